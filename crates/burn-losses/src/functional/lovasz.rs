//! The Lovász extension of the Jaccard loss (Berman et al. 2018) over per-pixel errors.

use burn::tensor::{Tensor, backend::Backend};

use super::math::one_minus_ratio;

/// The Lovász extension of the Jaccard loss of each row of `errors` (`[R, M]`), for the 0/1
/// ground truth `truth` and the 0/1 mask `valid` of pixels that count: `[R]`.
///
/// The errors are sorted in decreasing order; with `g` the sorted truth and `v` the sorted
/// mask, the Jaccard loss after the first `k` pixels is
/// `J_k = 1 − (Σg − Σ_{i≤k} g_i) / (Σg + Σ_{i≤k} (1 − g_i)·v_i)` (`0` where the union is `0`),
/// and the loss is `Σ_k e_k·v_k·(J_k − J_{k−1})` with `J_{−1} = 0`.
///
/// Pixels that do not count are kept in place, whatever their error: they change neither the
/// intersection nor the union, so `J` does not move across them and they contribute `0` — no
/// data-dependent shape, no host read. The gradient flows through the sorted errors only (the
/// weights `J_k − J_{k−1}` depend on the truth and the order, as in the references).
pub(crate) fn lovasz_extension<B: Backend>(
    errors: Tensor<B, 2>,
    truth: Tensor<B, 2>,
    valid: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let [rows, pixels] = errors.dims();
    let (sorted, order) = errors.sort_descending_with_indices(1);
    let truth = truth.gather(1, order.clone());
    let valid = valid.gather(1, order);
    let total = truth.clone().sum_dim(1);
    let intersection = total.clone() - truth.clone().cumsum(1);
    let union = total + (truth.neg().add_scalar(1.0) * valid.clone()).cumsum(1);
    let jaccard = one_minus_ratio(intersection, union).detach();
    let steps = if pixels == 1 {
        jaccard
    } else {
        let previous = Tensor::cat(
            vec![
                jaccard.zeros_like().slice([0..rows, 0..1]),
                jaccard.clone().slice([0..rows, 0..pixels - 1]),
            ],
            1,
        );
        jaccard - previous
    };
    (sorted * valid * steps).sum_dim(1).flatten::<1>(0, 1)
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;

    use super::*;

    type B = NdArray<f32>;

    fn row(values: &[f32]) -> Tensor<B, 2> {
        Tensor::<B, 1>::from_floats(values, &Default::default()).reshape([1, values.len()])
    }

    fn loss(errors: &[f32], truth: &[f32], valid: &[f32]) -> f32 {
        lovasz_extension(row(errors), row(truth), row(valid)).into_scalar()
    }

    /// By hand: errors sorted [0.9 (fg), 0.5 (bg), 0.2 (fg)]; |G| = 2. J after each pixel:
    /// 1 − 1/2 = 0.5, 1 − 1/3 = 2/3, 1 − 0/3 = 1. Loss 0.9·0.5 + 0.5·(1/6) + 0.2·(1/3).
    #[test]
    fn matches_the_hand_computed_extension() {
        let expected = 0.9 * 0.5 + 0.5 / 6.0 + 0.2 / 3.0;
        let value = loss(&[0.2, 0.9, 0.5], &[1.0, 1.0, 0.0], &[1.0; 3]);
        assert!((value - expected).abs() < 1e-6, "{value} vs {expected}");
    }

    /// An ignored pixel changes nothing, wherever its error sorts.
    #[test]
    fn ignored_pixels_are_as_if_removed() {
        let kept = loss(&[0.2, 0.9, 0.5], &[1.0, 1.0, 0.0], &[1.0; 3]);
        for error in [0.0, 0.7, 5.0] {
            let with = loss(
                &[0.2, error, 0.9, 0.5],
                &[1.0, 0.0, 1.0, 0.0],
                &[1.0, 0.0, 1.0, 1.0],
            );
            assert!(
                (with - kept).abs() < 1e-6,
                "ignored error {error}: {with} vs {kept}"
            );
        }
        assert_eq!(loss(&[0.4, 0.6], &[1.0, 0.0], &[0.0, 0.0]), 0.0);
        assert_eq!(loss(&[0.4], &[1.0], &[1.0]), 0.4);
    }
}
