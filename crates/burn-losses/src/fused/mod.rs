//! Fused kernels for the two passes every loss but Lovász makes over the pixels, and the
//! switch that turns them off.
//!
//! Two primitives carry the losses:
//!
//! - **softmax–cross-entropy statistics** (`fused/softmax_ce.rs`): one pass over `[N, C, S]`
//!   logits gives each pixel's cross-entropy or focal loss and its weight in the mean; one pass
//!   writes `∂L/∂x` (cross-entropy against class indices or probability targets, label
//!   smoothing, class weights, `ignore_index`, focal);
//! - **class overlap statistics** (`fused/overlap.rs`): one pass gives `I = Σ a·y`,
//!   `P = Σ a^p` and `T = Σ y^p` per sample and class after the activation; one pass writes
//!   `∂L/∂x` (every Dice-family loss).
//!
//! They run where the backend is one the crate was compiled for, with or without `Autodiff`
//! (a custom backward node):
//!
//! - feature `ndarray`: `NdArray<f32>` (its default `i64` indices), host kernels;
//! - feature `flex`: `Flex`, the same host kernels;
//! - feature `wgpu`: `CubeBackend<WgpuRuntime, f32, i32, u32>` — `burn::backend::Wgpu` as it
//!   is without Burn's `fusion` feature — CubeCL kernels (`fused/cube/`), one launch per pass
//!   (the overlap sums add one reduction launch). `Fusion<CubeBackend<..>>` (Burn's default
//!   `Wgpu`) takes the generic path, as does Burn's own `Wgpu` on a runtime other than wgpu.
//!
//! Every other backend, a float type other than f32, a quantized tensor, class weights that
//! require a gradient, or dense (probability, one-hot, soft) targets that require one take the
//! generic tensor-op path, which stays the reference implementation.
//!
//! **Why downcasting.** The loss modules stay generic over `B: Backend` with no new bound, so
//! the dispatcher cannot ask the type system which backend it has. It moves the tensor
//! primitive through [`core::any::Any`] (`B: 'static` already) and tries the concrete types it
//! has kernels for: no `unsafe`, no trait for users to implement, and a backend without kernels
//! costs a failed type-id comparison per type tried. The alternative, a backend-extension trait, would put
//! a new bound on every loss (breaking code generic over `B: Backend`) or need an impl for
//! every backend type, including those without kernels. The autodiff node is registered with
//! `NoCheckpointing`'s rules: its state keeps what the backward pass needs (the logits, which
//! share storage with the input, and on the host two floats per pixel; the device kernels
//! recompute them), so it never asks for a recomputation.

#[cfg(any(feature = "ndarray", feature = "flex"))]
mod blocks;
#[cfg(feature = "wgpu")]
mod cube;
mod dispatch;
#[cfg(any(feature = "ndarray", feature = "flex"))]
mod fast_math;
#[cfg(any(feature = "ndarray", feature = "flex"))]
mod host;
#[cfg(any(feature = "ndarray", feature = "flex"))]
mod overlap;
#[cfg(any(feature = "ndarray", feature = "flex", feature = "wgpu"))]
mod primitive;
#[cfg(any(feature = "ndarray", feature = "flex"))]
mod sigmoid_ce;
#[cfg(any(feature = "ndarray", feature = "flex"))]
mod softmax_ce;

use std::cell::Cell;

pub(crate) use dispatch::{
    OutOfRange, binary_losses, class_losses, overlap_statistics, soft_class_losses,
};

/// The loss per pixel.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(not(any(feature = "ndarray", feature = "flex")), allow(dead_code))]
pub(crate) enum ClassLossKind {
    /// Cross-entropy with label smoothing `ε` (`0`: none).
    CrossEntropy { label_smoothing: f32 },
    /// Softmax focal loss with focusing parameter `γ >= 0` (`0`: cross-entropy).
    Focal { gamma: f32 },
}

/// Everything about the loss but the tensors.
#[derive(Debug, Clone)]
#[cfg_attr(not(any(feature = "ndarray", feature = "flex")), allow(dead_code))]
pub(crate) struct ClassLossSpec {
    pub num_classes: usize,
    pub ignore_index: i64,
    /// Class weights (cross-entropy) or alpha (focal); `None` means `1`.
    pub weight: Option<Vec<f32>>,
    pub kind: ClassLossKind,
    /// `None`: the per-pixel losses; `Sum`; `Mean`: over the pixels' total weight in the mean
    /// (`w_y` each for cross-entropy, `1` for focal), `0` where that is `0`. Probability
    /// targets take `None` (their callers reduce).
    pub reduction: crate::Reduction,
}

/// An element-wise sigmoid loss, with its options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BinaryLossKind {
    BceWithLogits {
        label_smoothing: f32,
        ignore_value: Option<f32>,
    },
    /// `γ = 0` is BCE with logits (times `α_t`).
    Focal { alpha: Option<f32>, gamma: f32 },
}

/// Everything about an element-wise sigmoid loss but the tensors.
#[derive(Debug, Clone)]
#[cfg_attr(not(any(feature = "ndarray", feature = "flex")), allow(dead_code))]
pub(crate) struct BinaryLossSpec {
    pub kind: BinaryLossKind,
    /// Per channel (axis 1), `None` meaning `1` (BCE only).
    pub weight: Option<Vec<f32>>,
    pub pos_weight: Option<Vec<f32>>,
    /// `Mean` is over the elements that count (all of them but BCE's ignored ones; `0` where
    /// none does).
    pub reduction: crate::Reduction,
}

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(true) };
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

/// How many forward passes on the calling thread have taken a fused kernel so far: a way to
/// check that a setup gets the fast path (it grows by one per cross-entropy or focal loss, and
/// by one per overlap-statistics pass of a Dice-family loss).
///
/// ```
/// let before = burn_losses::fused::calls();
/// assert!(burn_losses::fused::calls() >= before);
/// ```
pub fn calls() -> u64 {
    CALLS.with(Cell::get)
}

/// Counts one forward pass on a fused kernel.
#[cfg(any(feature = "ndarray", feature = "flex", feature = "wgpu"))]
fn count_call() {
    CALLS.with(|cell| cell.set(cell.get() + 1));
}

/// Turns the fused kernels on (the default) or off for the losses computed **on the calling
/// thread**; off, every loss takes the generic tensor-op path. For benchmarks and for
/// comparing the two paths; results agree to float rounding.
///
/// ```
/// burn_losses::fused::set_enabled(false);
/// assert!(!burn_losses::fused::is_enabled());
/// burn_losses::fused::set_enabled(true);
/// ```
pub fn set_enabled(enabled: bool) {
    ENABLED.with(|cell| cell.set(enabled));
}

/// Whether the fused kernels are on for the calling thread (see [`set_enabled`]).
pub fn is_enabled() -> bool {
    ENABLED.with(Cell::get)
}

/// The backends this build has fused kernels for, by cargo feature: `"ndarray"`, `"flex"`,
/// `"wgpu"`.
///
/// ```
/// let backends = burn_losses::fused::backends();
/// assert_eq!(backends.contains(&"ndarray"), cfg!(feature = "ndarray"));
/// ```
pub fn backends() -> &'static [&'static str] {
    &[
        #[cfg(feature = "ndarray")]
        "ndarray",
        #[cfg(feature = "flex")]
        "flex",
        #[cfg(feature = "wgpu")]
        "wgpu",
    ]
}
