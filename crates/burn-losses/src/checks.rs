//! Argument checks shared by all losses. Every message names the loss, the argument and the
//! values seen, so a user never has to decode an index panic from inside a backend.

use burn::tensor::{Bool, Int, Tensor, backend::Backend};

use crate::LossConfigError;

/// Checks a per-class vector (`weight`, `alpha`): every entry finite and `>= 0`.
pub(crate) fn per_class_values(
    loss: &'static str,
    argument: &'static str,
    values: &[f32],
) -> Result<(), LossConfigError> {
    for (i, &value) in values.iter().enumerate() {
        if !(value.is_finite() && value >= 0.0) {
            return Err(LossConfigError::InvalidValue {
                loss,
                argument: format!("{argument}[{i}]"),
                value: value as f64,
                requirement: "finite and >= 0",
            });
        }
    }
    Ok(())
}

/// Checks that a per-class vector has `expected` entries.
pub(crate) fn per_class_len(
    loss: &'static str,
    argument: &'static str,
    expected: usize,
    actual: usize,
) -> Result<(), LossConfigError> {
    if expected != actual {
        return Err(LossConfigError::WrongLength {
            loss,
            argument,
            expected,
            actual,
        });
    }
    Ok(())
}

/// Checks a scalar hyperparameter against `ok`.
pub(crate) fn scalar(
    loss: &'static str,
    argument: &'static str,
    value: f32,
    ok: bool,
    requirement: &'static str,
) -> Result<(), LossConfigError> {
    if ok && !value.is_nan() {
        Ok(())
    } else {
        Err(LossConfigError::InvalidValue {
            loss,
            argument: argument.to_string(),
            value: value as f64,
            requirement,
        })
    }
}

/// Checks that a scalar hyperparameter (`gamma`, `smooth`) is finite and `>= 0`.
pub(crate) fn finite_non_negative(
    loss: &'static str,
    argument: &'static str,
    value: f32,
) -> Result<(), LossConfigError> {
    scalar(
        loss,
        argument,
        value,
        value >= 0.0 && value.is_finite(),
        "finite and >= 0",
    )
}

/// Checks an optional smoothing term (`smooth_nr`, `smooth_dr`): finite and `>= 0` when set.
pub(crate) fn optional_finite_non_negative(
    loss: &'static str,
    argument: &'static str,
    value: Option<f32>,
) -> Result<(), LossConfigError> {
    value.map_or(Ok(()), |value| finite_non_negative(loss, argument, value))
}

/// Checks that a scalar (`label_smoothing`) lies in `[0, 1]`.
pub(crate) fn unit_interval(
    loss: &'static str,
    argument: &'static str,
    value: f32,
) -> Result<(), LossConfigError> {
    scalar(
        loss,
        argument,
        value,
        (0.0..=1.0).contains(&value),
        "in [0, 1]",
    )
}

/// Checks an optional target value (`ignore_value`): finite when set.
pub(crate) fn optional_finite(
    loss: &'static str,
    argument: &'static str,
    value: Option<f32>,
) -> Result<(), LossConfigError> {
    value.map_or(Ok(()), |value| {
        scalar(loss, argument, value, value.is_finite(), "finite")
    })
}

/// Checks the smoothing of an overlap loss: `smooth` and, where set, `smooth_nr` and
/// `smooth_dr`, each finite and `>= 0`.
pub(crate) fn overlap_smoothing(
    loss: &'static str,
    smooth: f32,
    smooth_nr: Option<f32>,
    smooth_dr: Option<f32>,
) -> Result<(), LossConfigError> {
    finite_non_negative(loss, "smooth", smooth)?;
    optional_finite_non_negative(loss, "smooth_nr", smooth_nr)?;
    optional_finite_non_negative(loss, "smooth_dr", smooth_dr)
}

/// Checks a per-class vector (`weight`, `alpha`) if one is set: every entry finite and `>= 0`.
pub(crate) fn optional_per_class_values(
    loss: &'static str,
    argument: &'static str,
    values: Option<&[f32]>,
) -> Result<(), LossConfigError> {
    values.map_or(Ok(()), |values| per_class_values(loss, argument, values))
}

/// Panics, naming `loss` and the shape, if `dims` has a zero-sized axis: no sample (`N = 0`),
/// no class or no pixel. Such an input has no loss to speak of; the message says so instead of
/// an index panic from inside a backend.
pub(crate) fn not_empty(loss: &str, name: &str, dims: &[usize]) {
    assert!(
        !dims.contains(&0),
        "{loss}: {name} has no element (shape {dims:?}, an axis of size 0): an empty batch, \
         class axis or image has no loss; skip it before calling the loss"
    );
}

/// Panics unless `inputs` is `[N, C, d1..dk]` (rank >= 2) and `targets` is `[N, d1..dk]`, and
/// neither is empty. Returns `C`.
pub(crate) fn class_index_shapes(loss: &str, inputs: &[usize], targets: &[usize]) -> usize {
    assert!(
        inputs.len() >= 2,
        "{loss}: logits must have shape [N, C] or [N, C, d1, ..., dk], got rank {} with shape {inputs:?}",
        inputs.len()
    );
    let expected: Vec<usize> = inputs
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 1)
        .map(|(_, &d)| d)
        .collect();
    assert!(
        targets == expected.as_slice(),
        "{loss}: targets must have shape {expected:?} for logits of shape {inputs:?} \
         (the logits' shape without the class axis 1), got {targets:?}"
    );
    not_empty(loss, "logits", inputs);
    inputs[1]
}

/// Panics unless `a` and `b` have the same shape, rank >= `min_rank`, and no empty axis.
pub(crate) fn same_shapes(loss: &str, names: [&str; 2], a: &[usize], b: &[usize], min_rank: usize) {
    assert!(
        a.len() >= min_rank,
        "{loss}: {} must have rank >= {min_rank}, got shape {a:?}",
        names[0]
    );
    assert!(
        a == b,
        "{loss}: {} and {} must have the same shape, got {a:?} and {b:?}",
        names[0],
        names[1]
    );
    not_empty(loss, names[0], a);
}

/// Panics if a per-class tensor (`weight`, `alpha`, `num_classes`) disagrees with the class
/// count `actual` found on axis 1 of the input.
pub(crate) fn class_count(
    loss: &str,
    argument: &str,
    expected: usize,
    actual: usize,
    shape: &[usize],
) {
    assert!(
        expected == actual,
        "{loss}: the input has {actual} classes on axis 1 (shape {shape:?}) but `{argument}` \
         is configured for {expected}"
    );
}

/// Panics, naming the first offending value, if any element of `bad` is set.
///
/// This reads one scalar back to the host (a device synchronisation), and the targets
/// themselves only when the check fails. Losses expose it as `check_targets`.
pub(crate) fn assert_targets_in_range<B: Backend>(
    loss: &str,
    targets: &Tensor<B, 3, Int>,
    bad: Tensor<B, 3, Bool>,
    num_classes: usize,
    ignore_index: i64,
) {
    let any_bad = bad
        .any()
        .int()
        .into_data()
        .iter::<i64>()
        .next()
        .unwrap_or(0)
        != 0;
    if any_bad {
        let data = targets.clone().into_data();
        let value = data
            .iter::<i64>()
            .find(|&v| v != ignore_index && !(0..num_classes as i64).contains(&v))
            .unwrap_or_default();
        target_out_of_range(loss, value, num_classes, ignore_index);
    }
}

/// Panics with the message of an out-of-range class target `value`.
pub(crate) fn target_out_of_range(
    loss: &str,
    value: i64,
    num_classes: usize,
    ignore_index: i64,
) -> ! {
    panic!(
        "{loss}: target value {value} is out of range for {num_classes} classes \
         (valid: 0..{num_classes}, or ignore_index = {ignore_index}); disable this check \
         with `with_check_targets(false)` to treat such targets as ignored instead"
    );
}
