//! The metrics shown while training: loss, mean IoU, mean Dice, and IoU per class.

use std::sync::Arc;

use burn::train::metric::{
    Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes, NumericEntry,
    SerializedEntry,
};

use super::{ConfusionMatrix, SegmentationStats};

/// Name of the loss metric (as shown and logged).
pub const LOSS_NAME: &str = "Loss";
/// Name of the mean IoU metric.
pub const MEAN_IOU_NAME: &str = "Mean IoU";
/// Name of the mean Dice metric.
pub const MEAN_DICE_NAME: &str = "Mean Dice";
/// Name of the per-class IoU text metric (its serialised form is the epoch's confusion matrix).
pub const CLASS_IOU_NAME: &str = "IoU per class";

/// Which number a [`SegmentationMetric`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentationMetricKind {
    /// The loss (mean over the epoch's batches, weighted by batch size).
    Loss,
    /// Mean IoU of the epoch's confusion matrix.
    MeanIou,
    /// Mean Dice of the epoch's confusion matrix.
    MeanDice,
}

/// A numeric metric over [`SegmentationStats`]: loss, mean IoU or mean Dice.
///
/// The progress display shows each batch's own value and the epoch's value so far; the entries
/// it logs are [`logged_increment`]s, so that `burn-train`'s summary of an epoch is the epoch's
/// confusion-matrix value, the same as in `metrics.jsonl`.
#[derive(Clone, Debug)]
pub struct SegmentationMetric {
    kind: SegmentationMetricKind,
    name: MetricName,
    batch_value: f64,
    batch_count: usize,
    loss_sum: f64,
    count: usize,
    epoch_confusion: Option<ConfusionMatrix>,
}

impl SegmentationMetric {
    /// A metric of the given kind.
    pub fn new(kind: SegmentationMetricKind) -> Self {
        let name = match kind {
            SegmentationMetricKind::Loss => LOSS_NAME,
            SegmentationMetricKind::MeanIou => MEAN_IOU_NAME,
            SegmentationMetricKind::MeanDice => MEAN_DICE_NAME,
        };
        Self {
            kind,
            name: Arc::new(name.to_string()),
            batch_value: 0.0,
            batch_count: 0,
            loss_sum: 0.0,
            count: 0,
            epoch_confusion: None,
        }
    }

    /// The loss metric.
    pub fn loss() -> Self {
        Self::new(SegmentationMetricKind::Loss)
    }

    /// The mean IoU metric.
    pub fn mean_iou() -> Self {
        Self::new(SegmentationMetricKind::MeanIou)
    }

    /// The mean Dice metric.
    pub fn mean_dice() -> Self {
        Self::new(SegmentationMetricKind::MeanDice)
    }

    fn value_of(&self, confusion: &ConfusionMatrix) -> f64 {
        match self.kind {
            SegmentationMetricKind::MeanIou => confusion.mean_iou(),
            SegmentationMetricKind::MeanDice => confusion.mean_dice(),
            SegmentationMetricKind::Loss => unreachable!("loss is not read from the confusion"),
        }
    }

    fn epoch_value(&self) -> f64 {
        match (self.kind, &self.epoch_confusion) {
            (SegmentationMetricKind::Loss, _) => self.loss_sum / self.count.max(1) as f64,
            (_, Some(confusion)) => self.value_of(confusion),
            (_, None) => 0.0,
        }
    }
}

/// The value logged for a batch of `batch_size` images, chosen so that the count-weighted mean
/// of the logged values of an epoch so far (what `burn-train`'s end-of-run summary computes from
/// its logs) is `epoch_value`, the value of the epoch's confusion matrix, and not a mean of
/// per-batch IoUs. `weighted_before` is the epoch value before this batch times the count
/// before it; `count` includes this batch. For the loss this is the batch loss itself.
fn logged_increment(
    weighted_before: f64,
    epoch_value: f64,
    count: usize,
    batch_size: usize,
) -> f64 {
    (epoch_value * count as f64 - weighted_before) / batch_size.max(1) as f64
}

impl Metric for SegmentationMetric {
    type Input = SegmentationStats;

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: None,
            higher_is_better: self.kind != SegmentationMetricKind::Loss,
        }
        .into()
    }

    fn update(&mut self, item: &SegmentationStats, _metadata: &MetricMetadata) -> SerializedEntry {
        let weighted_before = self.epoch_value() * self.count as f64;
        self.batch_count = item.batch_size;
        self.count += item.batch_size;
        self.batch_value = match self.kind {
            SegmentationMetricKind::Loss => {
                self.loss_sum += item.loss * item.batch_size as f64;
                item.loss
            }
            _ => {
                self.epoch_confusion
                    .get_or_insert_with(|| ConfusionMatrix::new(item.confusion.num_classes))
                    .merge(&item.confusion);
                self.value_of(&item.confusion)
            }
        };
        let serialized = NumericEntry::Aggregated {
            aggregated_value: logged_increment(
                weighted_before,
                self.epoch_value(),
                self.count,
                item.batch_size,
            ),
            count: item.batch_size,
        }
        .serialize();
        SerializedEntry::new(
            format!(
                "epoch {:.4} - batch {:.4}",
                self.epoch_value(),
                self.batch_value
            ),
            serialized,
        )
    }

    fn clear(&mut self) {
        *self = Self::new(self.kind);
    }
}

impl Numeric for SegmentationMetric {
    fn value(&self) -> NumericEntry {
        NumericEntry::Aggregated {
            aggregated_value: self.batch_value,
            count: self.batch_count,
        }
    }

    fn running_value(&self) -> NumericEntry {
        NumericEntry::Aggregated {
            aggregated_value: self.epoch_value(),
            count: self.count,
        }
    }
}

/// A text metric showing the epoch's per-class IoU; its serialised form is the epoch's
/// [`ConfusionMatrix`] as JSON, which [`JsonlEpochLogger`] turns into the per-class arrays.
#[derive(Clone, Debug, Default)]
pub struct ClassIouMetric {
    confusion: Option<ConfusionMatrix>,
}

impl ClassIouMetric {
    /// A new, empty metric.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Formats per-class values as `0.981 0.952 -` (`-` = undefined).
pub fn format_per_class(values: &[Option<f64>]) -> String {
    values
        .iter()
        .map(|v| v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}")))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Metric for ClassIouMetric {
    type Input = SegmentationStats;

    fn name(&self) -> MetricName {
        Arc::new(CLASS_IOU_NAME.to_string())
    }

    fn update(&mut self, item: &SegmentationStats, _metadata: &MetricMetadata) -> SerializedEntry {
        let confusion = self
            .confusion
            .get_or_insert_with(|| ConfusionMatrix::new(item.confusion.num_classes));
        confusion.merge(&item.confusion);
        SerializedEntry::new(
            format_per_class(&confusion.iou()),
            serde_json::to_string(confusion).expect("confusion matrix serialises"),
        )
    }

    fn clear(&mut self) {
        self.confusion = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(predictions: &[i64], targets: &[i64], batch_size: usize) -> SegmentationStats {
        let mut confusion = ConfusionMatrix::new(2);
        confusion.add(predictions.iter().copied(), targets.iter().copied());
        SegmentationStats {
            loss: 0.0,
            batch_size,
            confusion,
        }
    }

    /// The count-weighted mean of the logged entries, as burn-train's summary computes it.
    fn summary(entries: &[SerializedEntry]) -> f64 {
        let (sum, count) = entries.iter().fold((0.0, 0), |(s, n), e| {
            match NumericEntry::deserialize(&e.serialized).unwrap() {
                NumericEntry::Aggregated {
                    aggregated_value,
                    count,
                } => (s + aggregated_value * count as f64, n + count),
                NumericEntry::Value(v) => (s + v, n + 1),
            }
        });
        sum / count as f64
    }

    #[test]
    fn burn_train_summary_equals_the_epoch_confusion_value() {
        let batches = [
            stats(&[0, 0, 1, 1], &[0, 0, 1, 1], 2), // perfect: batch IoU 1
            stats(&[0, 1, 1], &[0, 0, 1], 1),       // batch mean IoU (0.5 + 0.5) / 2
            stats(&[1, 1, 1, 1], &[0, 1, 1, 1], 3), // batch mean IoU (0 + 0.75) / 2
        ];
        let progress = || burn::data::dataloader::Progress {
            items_processed: 1,
            items_total: 1,
        };
        let metadata = MetricMetadata {
            progress: progress(),
            global_progress: progress(),
            iteration: Some(0),
            lr: None,
        };
        for kind in [
            SegmentationMetricKind::MeanIou,
            SegmentationMetricKind::MeanDice,
        ] {
            let mut metric = SegmentationMetric::new(kind);
            let mut epoch = ConfusionMatrix::new(2);
            let mut logged = Vec::new();
            for batch in &batches {
                logged.push(metric.update(batch, &metadata));
                epoch.merge(&batch.confusion);
                let expected = metric.value_of(&epoch);
                assert!((summary(&logged) - expected).abs() < 1e-12, "{kind:?}");
                assert_eq!(metric.running_value().current(), expected);
            }
            // The per-batch mean would differ: the test is not vacuous.
            let batch_mean: f64 = batches
                .iter()
                .map(|b| metric.value_of(&b.confusion) * b.batch_size as f64)
                .sum::<f64>()
                / 6.0;
            assert!((batch_mean - metric.value_of(&epoch)).abs() > 0.01);
        }
    }
}
