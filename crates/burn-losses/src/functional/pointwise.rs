//! Per-element losses on logits: cross-entropy from log-probabilities (class-index and
//! probability targets), the softmax focal loss, binary cross-entropy with logits, and the
//! sigmoid focal loss built on it.

use burn::tensor::activation::{log_sigmoid, log_softmax, sigmoid};
use burn::tensor::{ElementConversion, Int, Tensor, backend::Backend};

use super::math::pow_nonneg;
use super::targets::{ClassTargets, check_class_targets, to_ncs};
use crate::fused::{
    self, BinaryLossKind, BinaryLossSpec, ClassLossKind, ClassLossSpec, OutOfRange,
};
use crate::reduction::{reduce, reduce_unweighted};
use crate::{Reduction, checks};

/// Softmax cross-entropy or focal loss of `[N, C, d1, .., dk]` logits against class indices
/// `[N, d1, .., dk]`, reduced as `reduction`: `None` gives the per-element losses `[N·S]` (0
/// where the target does not count); `Mean` divides their sum by the elements' total weight in
/// the mean (`Σ w[y]` for cross-entropy, the count for focal; `0` for an all-ignored batch).
///
/// Takes the fused kernel where there is one for the backend (the reduction included), the
/// tensor-op code otherwise. Shapes must have been checked by the caller; with
/// `check_targets`, a target outside `[0, C)` that is not `ignore_index` panics naming `loss`.
pub(crate) fn softmax_losses<B: Backend, const D: usize, const K: usize>(
    loss: &'static str,
    logits: Tensor<B, D>,
    targets: Tensor<B, K, Int>,
    weight: Option<&Tensor<B, 1>>,
    (ignore_index, check_targets): (i64, bool),
    kind: ClassLossKind,
    reduction: Reduction,
) -> Tensor<B, 1> {
    let num_classes = logits.dims()[1];
    let spec = ClassLossSpec {
        num_classes,
        ignore_index,
        weight: None,
        kind,
        reduction,
    };
    // Kept for a kernel that does not look at the range (a clone shares the storage).
    let to_check = check_targets.then(|| targets.clone());
    let (logits, targets) = match fused::class_losses(logits, targets, weight, spec) {
        Ok(out) => {
            match (to_check, out.out_of_range) {
                (Some(_), OutOfRange::First(Some(value))) => {
                    checks::target_out_of_range(loss, value, num_classes, ignore_index)
                }
                // One value read back where the kernel counted them, the check's ops otherwise.
                (Some(targets), OutOfRange::Counted(count))
                    if count.clone().into_scalar().elem::<f32>() > 0.0 =>
                {
                    check_class_targets(loss, targets, num_classes, ignore_index)
                }
                (Some(targets), OutOfRange::Unknown) => {
                    check_class_targets(loss, targets, num_classes, ignore_index)
                }
                _ => {}
            }
            return out.loss;
        }
        Err(inputs) => inputs,
    };
    let logits = to_ncs(logits);
    let targets = ClassTargets::new(loss, targets, num_classes, ignore_index, check_targets);
    let log_probs = log_softmax(logits, 1);
    let (losses, denominators) = match kind {
        ClassLossKind::CrossEntropy { label_smoothing } => {
            cross_entropy(log_probs, &targets, weight, label_smoothing)
        }
        ClassLossKind::Focal { gamma } => (
            focal(log_probs, &targets, weight, gamma),
            targets.valid.clone().float(),
        ),
    };
    let denominators = denominators.flatten::<1>(0, 2);
    reduce(losses.flatten(0, 2), || denominators.sum(), reduction)
}

/// Per-element cross-entropy from `[N, C, S]` log-probabilities: returns the losses `[N, 1, S]`
/// (0 where the target does not count) and each element's weight `w[y]` in the mean.
pub(crate) fn cross_entropy<B: Backend>(
    log_probs: Tensor<B, 3>,
    targets: &ClassTargets<B>,
    weight: Option<&Tensor<B, 1>>,
    label_smoothing: f32,
) -> (Tensor<B, 3>, Tensor<B, 3>) {
    let [_, num_classes, _] = log_probs.dims();
    let element_weight = targets.element_weight(weight);
    let nll = log_probs.clone().gather(1, targets.index.clone()).neg() * element_weight.clone();
    let losses = if label_smoothing > 0.0 {
        let weighted = match weight {
            Some(weight) => log_probs * weight.clone().reshape([1, num_classes, 1]),
            None => log_probs,
        };
        let smooth = weighted.sum_dim(1).neg() * targets.valid.clone().float();
        nll * (1.0 - label_smoothing) + smooth * (label_smoothing / num_classes as f32)
    } else {
        nll
    };
    (losses, element_weight)
}

/// Per-element softmax focal loss `[N, 1, S]` from `[N, C, S]` log-probabilities (0 where the
/// target does not count).
pub(crate) fn focal<B: Backend>(
    log_probs: Tensor<B, 3>,
    targets: &ClassTargets<B>,
    alpha: Option<&Tensor<B, 1>>,
    gamma: f32,
) -> Tensor<B, 3> {
    let log_p = log_probs.gather(1, targets.index.clone());
    let weighted_nll = log_p.clone().neg() * targets.element_weight(alpha);
    if gamma == 0.0 {
        return weighted_nll;
    }
    let one_minus_p = log_p.exp().neg().add_scalar(1.0);
    pow_nonneg(one_minus_p, gamma) * weighted_nll
}

/// BCE with logits or the sigmoid focal loss of logits against same-shape float targets,
/// reduced as `reduction` (`None`: every element's loss in row-major order): the fused kernel
/// where there is one for the backend, the tensor-op code otherwise. Per-channel `weight` and
/// `pos_weight` (BCE, channels on axis 1) must have been checked by the caller, as the shapes.
///
/// `Mean` is over the elements that count: every element but BCE's ignored ones (`0` with
/// zero gradient where none does).
pub(crate) fn sigmoid_losses<B: Backend, const D: usize>(
    logits: Tensor<B, D>,
    targets: Tensor<B, D>,
    (weight, pos_weight): (Option<&Tensor<B, 1>>, Option<&Tensor<B, 1>>),
    kind: BinaryLossKind,
    reduction: Reduction,
) -> Tensor<B, 1> {
    let spec = BinaryLossSpec {
        kind,
        weight: None,
        pos_weight: None,
        reduction,
    };
    let (logits, targets) = match fused::binary_losses(logits, targets, weight, pos_weight, spec) {
        Ok(loss) => return loss,
        Err(inputs) => inputs,
    };
    match kind {
        BinaryLossKind::BceWithLogits {
            label_smoothing,
            ignore_value,
        } => {
            let per_channel = |values: Option<&Tensor<B, 1>>| {
                values.map(|values| {
                    let mut shape = [1; D];
                    shape[1] = values.dims()[0];
                    values.clone().reshape(shape)
                })
            };
            let counted = ignore_value.map(|value| targets.clone().not_equal_elem(value));
            let targets = if label_smoothing > 0.0 {
                targets
                    .mul_scalar(1.0 - label_smoothing)
                    .add_scalar(label_smoothing / 2.0)
            } else {
                targets
            };
            let mut losses = bce_with_logits(logits, targets, per_channel(pos_weight));
            if let Some(weight) = per_channel(weight) {
                losses = losses * weight;
            }
            if let Some(counted) = &counted {
                losses = losses.mask_fill(counted.clone().bool_not(), 0.0);
            }
            let losses = losses.flatten::<1>(0, D - 1);
            let count = || match counted {
                Some(counted) => counted.float().sum(),
                None => Tensor::from_floats([losses.dims()[0] as f32], &losses.device()),
            };
            reduce(losses.clone(), count, reduction)
        }
        BinaryLossKind::Focal { alpha, gamma } => {
            let losses = binary_focal(logits, targets, alpha, gamma).flatten::<1>(0, D - 1);
            reduce_unweighted(losses, reduction)
        }
    }
}

/// Per-element sigmoid focal loss (torchvision's formula), any shape.
fn binary_focal<B: Backend, const D: usize>(
    logits: Tensor<B, D>,
    targets: Tensor<B, D>,
    alpha: Option<f32>,
    gamma: f32,
) -> Tensor<B, D> {
    let negatives = targets.clone().neg().add_scalar(1.0);
    let bce = bce_with_logits(logits.clone(), targets.clone(), None);
    let mut losses = if gamma == 0.0 {
        bce
    } else {
        let p = sigmoid(logits);
        // 1 − p_t = p·(1 − t) + (1 − p)·t
        let one_minus_pt =
            p.clone() * negatives.clone() + p.neg().add_scalar(1.0) * targets.clone();
        bce * pow_nonneg(one_minus_pt, gamma)
    };
    if let Some(alpha) = alpha {
        losses = losses * (targets * alpha + negatives * (1.0 - alpha));
    }
    losses
}

/// Per-element binary cross-entropy with logits, any shape:
/// `(1 − t)·x + (1 + (pw − 1)·t)·softplus(−x)`, PyTorch's `binary_cross_entropy_with_logits`
/// with `pos_weight` `pw` broadcast against the logits (`None`: `pw = 1`).
///
/// `softplus(−x)` is computed as `−log σ(x)`, which is finite in value and gradient for any
/// finite `x` (±1e4 included), never as `log(1 + exp(−x))`.
fn bce_with_logits<B: Backend, const D: usize>(
    logits: Tensor<B, D>,
    targets: Tensor<B, D>,
    pos_weight: Option<Tensor<B, D>>,
) -> Tensor<B, D> {
    let softplus_neg = log_sigmoid(logits.clone()).neg();
    let positive_factor = match pos_weight {
        Some(pos_weight) => (pos_weight.sub_scalar(1.0) * targets.clone()).add_scalar(1.0),
        None => softplus_neg.ones_like(),
    };
    logits * targets.neg().add_scalar(1.0) + softplus_neg * positive_factor
}

/// Softmax cross-entropy of `[N, C, d1, .., dk]` logits against same-shape probability targets
/// (smoothing `ε`, class weights): the per-element losses `[N·S]`. Takes the fused kernel where
/// there is one for the backend (and the targets need no gradient), [`soft_cross_entropy`]
/// otherwise. Shapes must have been checked by the caller.
pub(crate) fn soft_softmax_losses<B: Backend, const D: usize>(
    logits: Tensor<B, D>,
    targets: Tensor<B, D>,
    weight: Option<&Tensor<B, 1>>,
    label_smoothing: f32,
) -> Tensor<B, 1> {
    let spec = ClassLossSpec {
        num_classes: logits.dims()[1],
        ignore_index: -1,
        weight: None,
        kind: ClassLossKind::CrossEntropy { label_smoothing },
        reduction: Reduction::None,
    };
    match fused::soft_class_losses(logits, targets, weight, spec) {
        Ok(losses) => losses,
        Err((logits, targets)) => {
            let log_probs = log_softmax(to_ncs(logits), 1);
            soft_cross_entropy(log_probs, to_ncs(targets), weight, label_smoothing).flatten(0, 2)
        }
    }
}

/// Per-element cross-entropy with probability targets from `[N, C, S]` log-probabilities:
/// `−Σ_c w_c·t'_c·log p_c` with `t' = t·(1 − ε) + ε/C` (PyTorch's probability-target
/// `cross_entropy`); returns `[N, 1, S]`.
pub(crate) fn soft_cross_entropy<B: Backend>(
    log_probs: Tensor<B, 3>,
    targets: Tensor<B, 3>,
    weight: Option<&Tensor<B, 1>>,
    label_smoothing: f32,
) -> Tensor<B, 3> {
    let [_, num_classes, _] = log_probs.dims();
    let targets = if label_smoothing > 0.0 {
        targets
            .mul_scalar(1.0 - label_smoothing)
            .add_scalar(label_smoothing / num_classes as f32)
    } else {
        targets
    };
    let targets = match weight {
        Some(weight) => targets * weight.clone().reshape([1, num_classes, 1]),
        None => targets,
    };
    (log_probs * targets).sum_dim(1).neg()
}
