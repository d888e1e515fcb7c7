//! Scalar math on tensors with the edge cases defined: a division whose empty denominator gives
//! `0`, and a power with a finite gradient at `0`.

use burn::tensor::{Tensor, backend::Backend};

/// Below this, `x^p` is evaluated at `TINY` and its gradient is cut (see [`pow_nonneg`]).
/// `TINY^(p-1) <= 1/TINY ~ 9e18` stays finite in f32 for every `p > 0`.
const TINY: f32 = 1.0842022e-19; // sqrt(f32::MIN_POSITIVE)

/// `x^p` for `x >= 0` and `p > 0`, with a finite gradient everywhere.
///
/// The plain `x.powf_scalar(p)` has gradient `p·x^(p-1)`, which is infinite at `x = 0` for
/// `p < 1` and turns into `NaN` once multiplied by a zero upstream gradient. Here the value at
/// `x <= 0` is exactly `0` (as `0^p`) and the gradient there is `0`; `p = 1` and `p = 2` are
/// computed exactly without `powf`.
pub(crate) fn pow_nonneg<B: Backend, const D: usize>(x: Tensor<B, D>, p: f32) -> Tensor<B, D> {
    if p == 1.0 {
        x
    } else if p == 2.0 {
        x.clone() * x
    } else {
        let zero = x.clone().lower_equal_elem(0.0);
        x.clamp_min(TINY).powf_scalar(p).mask_fill(zero, 0.0)
    }
}

/// `numerator / denominator`, defined as `0` (with zero gradient) where the denominator is
/// `0`: the mean over an empty set, e.g. an all-ignored batch. PyTorch gives `NaN` there.
pub(crate) fn safe_div<B: Backend, const D: usize>(
    numerator: Tensor<B, D>,
    denominator: Tensor<B, D>,
) -> Tensor<B, D> {
    let empty = denominator.clone().equal_elem(0.0);
    let denominator = denominator.mask_fill(empty.clone(), 1.0);
    (numerator / denominator).mask_fill(empty, 0.0)
}

/// `1 − numerator / denominator`, defined as `0` (with zero gradient) where the denominator is
/// `0`. The overlap losses use it: a `0/0` score (no smoothing, nothing predicted and nothing
/// to find) is a perfect score, not `NaN`.
pub(crate) fn one_minus_ratio<B: Backend, const D: usize>(
    numerator: Tensor<B, D>,
    denominator: Tensor<B, D>,
) -> Tensor<B, D> {
    let empty = denominator.clone().equal_elem(0.0);
    let ratio = numerator / denominator.mask_fill(empty.clone(), 1.0);
    ratio.neg().add_scalar(1.0).mask_fill(empty, 0.0)
}
