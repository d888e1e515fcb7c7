//! Fused kernels for the passes every loss but Lovász makes over the pixels, and the switch
//! that turns them off.
//!
//! Three primitives carry the losses:
//!
//! - **softmax–cross-entropy statistics** (`fused/softmax_ce.rs`): cross-entropy against class
//!   indices or probability targets (label smoothing, class weights, `ignore_index`) and the
//!   softmax focal loss. A reduced loss is one pass over `[N, C, S]` logits that sums the
//!   losses and, where the logits need a gradient, writes `∂L/∂x` as well (the backward pass
//!   only scales it); an unreduced one is one pass per direction;
//! - **class overlap statistics** (`fused/overlap.rs`): one pass gives `I = Σ a·y`,
//!   `P = Σ a^p` and `T = Σ y^p` per sample and class after the activation (keeping `a` where
//!   a gradient is wanted); one pass writes `∂L/∂x` over it (every Dice-family loss). What
//!   turns those `[N, 3, C]` sums into the loss (ratio per class, class mean, power,
//!   reduction) is one more small step, `fused/score.rs` (one launch of one cube on the
//!   device);
//! - **element-wise sigmoid losses** (`fused/sigmoid_ce.rs`): BCE with logits (per-channel
//!   `weight`, `pos_weight`, smoothing, `ignore_value`) and the sigmoid focal loss, each
//!   element's loss and `∂l/∂x` in one pass.
//!
//! On the host the kernels' blocks run compiled for AVX-512, or else AVX2 + FMA, where the CPU
//! has them (pulp's runtime detection; `fused/fast_math.rs`), the x86-64 baseline otherwise,
//! with the same results bit for bit.
//!
//! They run where the backend is one the crate was compiled for, with or without `Autodiff`
//! (a custom backward node):
//!
//! - feature `ndarray`: `NdArray<f32>` (its default `i64` indices), host kernels;
//! - feature `flex`: `Flex`, the same host kernels;
//! - feature `wgpu`: `CubeBackend<WgpuRuntime, f32, i32, u32>` — `burn::backend::Wgpu` as it
//!   is without Burn's `fusion` feature — CubeCL kernels (`fused/cube/`), one launch per pass
//!   plus one for a reduction;
//! - feature `fusion`: `Fusion<CubeBackend<..>>` (Burn's default `Wgpu`), the same CubeCL
//!   kernels as custom fusion operations.
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
//! `NoCheckpointing`'s rules: its state keeps what the backward pass needs (on the host the
//! gradient written by the forward pass, or the activations, or the logits with two floats
//! per pixel; on the device the logits), so it never asks for a recomputation. A host forward
//! pass whose input needs a gradient allocates it then, not in the backward pass: the peak
//! memory is the same, but a loss computed under autodiff and never back-propagated holds a
//! logits-sized buffer until it is dropped.

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
mod score;
#[cfg(any(feature = "ndarray", feature = "flex"))]
mod sigmoid_ce;
#[cfg(any(feature = "ndarray", feature = "flex"))]
mod softmax_ce;

use std::cell::Cell;

pub(crate) use dispatch::{
    OutOfRange, binary_losses, class_losses, overlap_score, overlap_statistics, soft_class_losses,
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

/// What a Dice-family loss computes per row (sample, or the pooled batch) from the overlap
/// statistics `I_c`, `P_c`, `T_c` of its classes.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(
    not(any(feature = "ndarray", feature = "flex", feature = "wgpu")),
    allow(dead_code)
)]
pub(crate) enum Score {
    /// Per class `l_c = 1 − (a·I_c + s_nr) / (b·I_c + u·P_c + v·T_c + s_dr)` (`0` where the
    /// denominator is `0`); the class mean `(Σ_c ω_c·l_c) / D` (`ω_c` the class weight times
    /// inclusion, `0` for an empty class under `Zero` and `Exclude`; `D` the number of
    /// included classes, or of included non-empty ones under `Exclude`; `0` where `D = 0`);
    /// that to the power `γ` (`pow_nonneg`'s rules). Dice is `a = 2, [b, u, v] = [0, 1, 1]`;
    /// Jaccard `2, [−2, 2, 2]`; Tversky `1, [1 − α − β, α, β]`.
    Ratio {
        /// `a`.
        numerator: f32,
        /// `[b, u, v]`.
        denominator: [f32; 3],
        empty: crate::EmptyClass,
        /// `γ` (`1`: none).
        gamma: f32,
    },
    /// Generalized Dice, `1 − (2·Σ_c w_c·I_c + s_nr) / (Σ_c w_c·(P_c + T_c) + s_dr)` (`0` where
    /// the denominator is `0`) over the included classes, `w_c` from `T_c` (no gradient; an
    /// empty class takes the row's largest finite weight).
    Generalized(crate::GeneralizedDiceWeight),
}

/// A Dice-family loss from the overlap statistics `[N, 3, C]`: [`Score`] per row, reduced
/// over the rows.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(
    not(any(feature = "ndarray", feature = "flex", feature = "wgpu")),
    allow(dead_code)
)]
pub(crate) struct ScoreSpec {
    pub score: Score,
    /// `[s_nr, s_dr]`.
    pub smooth: [f32; 2],
    /// Per class, `1` if it counts, `0` if not (`ignore_index`, `include_background`).
    pub included: Vec<f32>,
    /// One row pooled over the batch (else one per sample).
    pub batch: bool,
    /// Over the rows.
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

impl BinaryLossSpec {
    /// `[N, C, S]` of an input of shape `shape` (channels on axis 1; `[1, 1, n]` for rank 1).
    #[cfg_attr(
        not(any(feature = "ndarray", feature = "flex", feature = "wgpu")),
        allow(dead_code)
    )]
    pub(crate) fn dims(shape: &[usize]) -> [usize; 3] {
        match shape {
            [n] => [1, 1, *n],
            [n, c, rest @ ..] => [*n, *c, rest.iter().product()],
            [] => unreachable!("tensors have rank >= 1"),
        }
    }
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
