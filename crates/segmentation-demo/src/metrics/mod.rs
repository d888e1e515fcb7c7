//! Segmentation metrics: a confusion matrix with per-class IoU / Dice ([`confusion`]), the step
//! output type that feeds `burn-train`'s metric pipeline ([`step`]), the metrics shown while
//! training ([`burn_metrics`]), and the logger that writes `metrics.jsonl` ([`jsonl`]).
//!
//! IoU and Dice are computed from the confusion matrix accumulated over the whole epoch (not
//! averaged over batches), ignoring pixels whose target is 255. A class that appears neither in
//! the targets nor in the predictions has no IoU/Dice (`null` in JSON) and is left out of the
//! means. The epoch values that `burn-train` prints in its end-of-run summary, the ones its
//! progress display shows as "epoch", and those of `metrics.jsonl` are the same numbers.

pub mod burn_metrics;
pub mod confusion;
pub mod jsonl;
pub mod objects;
pub mod step;

pub use burn_metrics::{
    CLASS_IOU_NAME, ClassIouMetric, LOSS_NAME, MEAN_DICE_NAME, MEAN_IOU_NAME, SegmentationMetric,
    SegmentationMetricKind, format_per_class,
};
pub use confusion::ConfusionMatrix;
pub use jsonl::{EpochRecord, JsonlEpochLogger, read_metrics_jsonl};
pub use objects::count_components;
pub use step::{SegmentationOutput, SegmentationStats};
