//! Tensor pieces shared by several losses: layout normalisation, class-target masking and a
//! power with finite gradients. Each is written once here and called by the loss files.

use burn::tensor::{Bool, Int, Tensor, backend::Backend};

use crate::checks;

/// Below this, `x^p` is evaluated at `TINY` and its gradient is cut (see [`pow_nonneg`]).
/// `TINY^(p-1) <= 1/TINY ~ 9e18` stays finite in f32 for every `p > 0`.
const TINY: f32 = 1.0842022e-19; // sqrt(f32::MIN_POSITIVE)

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
        let dims = targets.dims();
        let spatial: usize = dims[1..].iter().product();
        let targets = targets.reshape([dims[0], 1, spatial]);

        let in_range = targets
            .clone()
            .greater_equal_elem(0)
            .bool_and(targets.clone().lower_elem(num_classes as i64));
        let not_ignored = targets.clone().not_equal_elem(ignore_index);
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
