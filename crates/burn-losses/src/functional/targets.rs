//! Class-index targets: the `[N, C, S]` view, masking of ignored and out-of-range targets, the
//! gather index, and one-hot encoding with a pixel-validity mask.

use burn::tensor::{Bool, Int, Tensor, backend::Backend};

use crate::checks;
use crate::one_hot::one_hot;

/// Views `[N, C, d1, .., dk]` as `[N, C, S]` with `S = d1·..·dk` (`S = 1` for `[N, C]`).
///
/// Row-major order is kept, so flattening the result of a per-element loss over `[N, 1, S]`
/// gives the elements in the order of PyTorch's `reduction='none'` output `[N, d1, .., dk]`.
pub(crate) fn to_ncs<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Tensor<B, 3> {
    let dims = tensor.dims();
    let spatial: usize = dims[2..].iter().product();
    tensor.reshape([dims[0], dims[1], spatial])
}

/// Class-index targets prepared for gathering from `[N, C, S]` log-probabilities.
pub(crate) struct ClassTargets<B: Backend> {
    /// `[N, 1, S]` indices, with every element that does not count replaced by class 0 so that a
    /// gather never reads out of bounds.
    pub index: Tensor<B, 3, Int>,
    /// `[N, 1, S]`: true where the element counts (not `ignore_index`, and within `[0, C)`).
    pub valid: Tensor<B, 3, Bool>,
}

impl<B: Backend> ClassTargets<B> {
    /// Masks `targets` (`[N, d1, .., dk]`, class indices) for `num_classes` classes.
    ///
    /// Values equal to `ignore_index` do not count. Other values outside `[0, num_classes)`
    /// panic with a message naming `loss` when `check_range` is set (this reads the targets back
    /// to the host once); otherwise they are treated as ignored.
    pub fn new<const K: usize>(
        loss: &'static str,
        targets: Tensor<B, K, Int>,
        num_classes: usize,
        ignore_index: i64,
        check_range: bool,
    ) -> Self {
        let targets = n1s(targets);
        let (in_range, not_ignored) = masks(&targets, num_classes, ignore_index);
        if check_range {
            checks::assert_targets_in_range(
                loss,
                &targets,
                in_range.clone().bool_not().bool_and(not_ignored.clone()),
                num_classes,
                ignore_index,
            );
        }
        let valid = in_range.bool_and(not_ignored);
        let index = targets.mask_fill(valid.clone().bool_not(), 0);
        Self { index, valid }
    }

    /// The per-element class weight `w[y]` (`[N, 1, S]`), `0` where the element does not count.
    /// With no `weight` this is the 0/1 validity mask.
    pub fn element_weight(&self, weight: Option<&Tensor<B, 1>>) -> Tensor<B, 3> {
        let valid = self.valid.clone().float();
        match weight {
            Some(weight) => {
                let shape = self.index.shape();
                let flat = self.index.clone().flatten::<1>(0, 2);
                weight.clone().select(0, flat).reshape(shape) * valid
            }
            None => valid,
        }
    }
}

/// Panics, naming `loss` and the first offending value, if a class target of `targets`
/// (`[N, d1, .., dk]`) is neither in `[0, num_classes)` nor `ignore_index`; for paths that mask
/// targets by other means (the device kernels). Reads one scalar back to the host.
pub(crate) fn check_class_targets<B: Backend, const K: usize>(
    loss: &str,
    targets: Tensor<B, K, Int>,
    num_classes: usize,
    ignore_index: i64,
) {
    let targets = n1s(targets);
    let (in_range, not_ignored) = masks(&targets, num_classes, ignore_index);
    let bad = in_range.bool_not().bool_and(not_ignored);
    checks::assert_targets_in_range(loss, &targets, bad, num_classes, ignore_index);
}

/// `[N, d1, .., dk]` targets as `[N, 1, S]`.
fn n1s<B: Backend, const K: usize>(targets: Tensor<B, K, Int>) -> Tensor<B, 3, Int> {
    let dims = targets.dims();
    let spatial: usize = dims[1..].iter().product();
    targets.reshape([dims[0], 1, spatial])
}

/// Where targets lie in `[0, num_classes)`, and where they are not `ignore_index`.
fn masks<B: Backend>(
    targets: &Tensor<B, 3, Int>,
    num_classes: usize,
    ignore_index: i64,
) -> (Tensor<B, 3, Bool>, Tensor<B, 3, Bool>) {
    let in_range = targets
        .clone()
        .greater_equal_elem(0)
        .bool_and(targets.clone().lower_elem(num_classes as i64));
    (in_range, targets.clone().not_equal_elem(ignore_index))
}

/// One-hot targets `[N, C, S]` from class indices `[N, S]`, and the `[N, 1, S]` 0/1 mask of the
/// pixels whose index lies in `[0, C)`. Pixels outside (e.g. `255`) get an all-zero one-hot row
/// and a `0` in the mask, so multiplying a prediction by the mask removes them from every sum.
pub(crate) fn one_hot_with_validity<B: Backend>(
    indices: Tensor<B, 2, Int>,
    num_classes: usize,
) -> (Tensor<B, 3>, Tensor<B, 3>) {
    let targets: Tensor<B, 3> = one_hot(indices, num_classes);
    let valid = targets.clone().sum_dim(1);
    (targets, valid)
}
