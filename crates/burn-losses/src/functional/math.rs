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

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, NdArray};

    use super::*;

    type B = Autodiff<NdArray<f32>>;

    fn tensor(values: &[f32]) -> Tensor<B, 1> {
        Tensor::from_floats(values, &Default::default())
    }

    fn vec<K: Backend>(t: Tensor<K, 1>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    #[test]
    fn safe_div_is_zero_with_zero_gradient_on_an_empty_denominator() {
        let num = tensor(&[3.0, 5.0]).require_grad();
        let out = safe_div(num.clone(), tensor(&[2.0, 0.0]));
        assert_eq!(vec(out.clone()), [1.5, 0.0]);
        let grad = num.grad(&out.sum().backward()).unwrap();
        assert_eq!(vec(grad), [0.5, 0.0]);
    }

    #[test]
    fn one_minus_ratio_scores_zero_over_zero_as_perfect() {
        let num = tensor(&[1.0, 0.0]).require_grad();
        let out = one_minus_ratio(num.clone(), tensor(&[4.0, 0.0]));
        assert_eq!(vec(out.clone()), [0.75, 0.0]);
        let grad = num.grad(&out.sum().backward()).unwrap();
        assert_eq!(vec(grad), [-0.25, 0.0]);
    }

    #[test]
    fn pow_nonneg_has_a_finite_gradient_at_zero() {
        for p in [0.5, 1.0, 2.0, 3.0] {
            let x = tensor(&[0.0, 4.0]).require_grad();
            let out = pow_nonneg(x.clone(), p);
            let values = vec(out.clone());
            assert_eq!(values[0], 0.0, "0^{p}");
            assert!((values[1] - 4f32.powf(p)).abs() < 1e-5, "4^{p}: {values:?}");
            let grad = vec(x.grad(&out.sum().backward()).unwrap());
            assert!(grad.iter().all(|g| g.is_finite()), "p {p}: {grad:?}");
            // d/dx x^p at 0 is cut to 0 below p = 1, and is exact (1, 0, 0) for p >= 1.
            assert_eq!(grad[0], if p == 1.0 { 1.0 } else { 0.0 }, "p {p}");
            assert!(
                (grad[1] - p * 4f32.powf(p - 1.0)).abs() < 1e-4,
                "p {p}: {grad:?}"
            );
        }
    }
}
