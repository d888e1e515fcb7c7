//! The backend chosen by cargo feature: `ndarray` (CPU, default) or `wgpu` (GPU).
//!
//! When both features are enabled, `wgpu` wins: asking for the GPU explicitly is taken as the
//! stronger wish.

use burn::backend::Autodiff;

#[cfg(not(any(feature = "ndarray", feature = "wgpu")))]
compile_error!("enable one backend feature of segmentation-demo: `ndarray` (default) or `wgpu`");

/// The inference backend (no autodiff) used by the `seg-demo` binary.
#[cfg(feature = "wgpu")]
pub type InferenceBackend = burn::backend::Wgpu;

/// The inference backend (no autodiff) used by the `seg-demo` binary.
#[cfg(all(feature = "ndarray", not(feature = "wgpu")))]
pub type InferenceBackend = burn::backend::NdArray<f32>;

/// The training backend: [`InferenceBackend`] wrapped in [`Autodiff`].
pub type TrainingBackend = Autodiff<InferenceBackend>;

/// A short human-readable name of the compiled-in backend, for logs.
pub fn backend_name() -> &'static str {
    if cfg!(feature = "wgpu") {
        "wgpu (GPU)"
    } else {
        "ndarray (CPU)"
    }
}
