//! The backend chosen by cargo feature: `ndarray` (CPU, default), `flex` (CPU, Burn 0.21's
//! recommended one) or `wgpu` (GPU).
//!
//! When several are enabled, `wgpu` wins over `flex`, which wins over `ndarray`: a backend asked
//! for explicitly is taken as the stronger wish than the default.

use burn::backend::Autodiff;

#[cfg(not(any(feature = "ndarray", feature = "flex", feature = "wgpu")))]
compile_error!(
    "enable one backend feature of segmentation-demo: `ndarray` (default), `flex` or `wgpu`"
);

/// The inference backend (no autodiff) used by the `seg-demo` binary.
#[cfg(feature = "wgpu")]
pub type InferenceBackend = burn::backend::Wgpu;

/// The inference backend (no autodiff) used by the `seg-demo` binary.
#[cfg(all(feature = "flex", not(feature = "wgpu")))]
pub type InferenceBackend = burn::backend::Flex;

/// The inference backend (no autodiff) used by the `seg-demo` binary.
#[cfg(all(feature = "ndarray", not(any(feature = "wgpu", feature = "flex"))))]
pub type InferenceBackend = burn::backend::NdArray<f32>;

/// The training backend: [`InferenceBackend`] wrapped in [`Autodiff`].
pub type TrainingBackend = Autodiff<InferenceBackend>;

/// A short human-readable name of the compiled-in backend, for logs.
pub fn backend_name() -> &'static str {
    if cfg!(feature = "wgpu") {
        "wgpu (GPU)"
    } else if cfg!(feature = "flex") {
        "flex (CPU)"
    } else {
        "ndarray (CPU)"
    }
}
