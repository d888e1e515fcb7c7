//! Segmentation metrics: a confusion matrix with per-class IoU / Dice, the step output type that
//! feeds `burn-train`'s metric pipeline, the metrics shown while training, and the logger that
//! writes `metrics.jsonl`.
//!
//! IoU and Dice are computed from the confusion matrix accumulated over the whole epoch (not
//! averaged over batches), ignoring pixels whose target is 255. A class that appears neither in
//! the targets nor in the predictions has no IoU/Dice (`null` in JSON) and is left out of the means.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Transaction;
use burn::train::ItemLazy;
use burn::train::logger::MetricLogger;
use burn::train::metric::store::{EpochSummary, MetricsUpdate, Split};
use burn::train::metric::{
    Adaptor, Metric, MetricAttributes, MetricDefinition, MetricId, MetricMetadata, MetricName,
    Numeric, NumericAttributes, NumericEntry, SerializedEntry,
};
use serde::{Deserialize, Serialize};

/// A `C × C` confusion matrix: `counts[target * C + prediction]` pixels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// Number of classes `C`.
    pub num_classes: usize,
    /// Row-major counts, rows = target class, columns = predicted class.
    pub counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// An empty matrix.
    pub fn new(num_classes: usize) -> Self {
        Self {
            num_classes,
            counts: vec![0; num_classes * num_classes],
        }
    }

    /// Counts pixels; targets outside `[0, C)` (e.g. 255) are skipped.
    pub fn add(
        &mut self,
        predictions: impl IntoIterator<Item = i64>,
        targets: impl IntoIterator<Item = i64>,
    ) {
        let c = self.num_classes as i64;
        for (p, t) in predictions.into_iter().zip(targets) {
            if (0..c).contains(&t) && (0..c).contains(&p) {
                self.counts[(t * c + p) as usize] += 1;
            }
        }
    }

    /// Adds another matrix's counts.
    pub fn merge(&mut self, other: &ConfusionMatrix) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    /// `(true positives, false positives, false negatives)` of class `k`.
    fn tp_fp_fn(&self, k: usize) -> (u64, u64, u64) {
        let c = self.num_classes;
        let tp = self.counts[k * c + k];
        let predicted: u64 = (0..c).map(|t| self.counts[t * c + k]).sum();
        let actual: u64 = self.counts[k * c..(k + 1) * c].iter().sum();
        (tp, predicted - tp, actual - tp)
    }

    /// Per-class IoU `TP / (TP + FP + FN)`; `None` when the class is absent from both.
    pub fn iou(&self) -> Vec<Option<f64>> {
        (0..self.num_classes)
            .map(|k| {
                let (tp, fp, fneg) = self.tp_fp_fn(k);
                let denom = tp + fp + fneg;
                (denom > 0).then(|| tp as f64 / denom as f64)
            })
            .collect()
    }

    /// Per-class Dice `2·TP / (2·TP + FP + FN)`; `None` when the class is absent from both.
    pub fn dice(&self) -> Vec<Option<f64>> {
        (0..self.num_classes)
            .map(|k| {
                let (tp, fp, fneg) = self.tp_fp_fn(k);
                let denom = 2 * tp + fp + fneg;
                (denom > 0).then(|| 2.0 * tp as f64 / denom as f64)
            })
            .collect()
    }

    /// Mean IoU over the classes that have one (0 if none has).
    pub fn mean_iou(&self) -> f64 {
        mean_defined(&self.iou())
    }

    /// Mean Dice over the classes that have one (0 if none has).
    pub fn mean_dice(&self) -> f64 {
        mean_defined(&self.dice())
    }

    /// Fraction of counted pixels predicted correctly.
    pub fn pixel_accuracy(&self) -> f64 {
        let total: u64 = self.counts.iter().sum();
        let correct: u64 = (0..self.num_classes)
            .map(|k| self.counts[k * self.num_classes + k])
            .sum();
        if total == 0 {
            0.0
        } else {
            correct as f64 / total as f64
        }
    }
}

fn mean_defined(values: &[Option<f64>]) -> f64 {
    let defined: Vec<f64> = values.iter().flatten().copied().collect();
    if defined.is_empty() {
        0.0
    } else {
        defined.iter().sum::<f64>() / defined.len() as f64
    }
}

// ---------------------------------------------------------------------------------------------
// Step output.
// ---------------------------------------------------------------------------------------------

/// What a training or validation step hands to `burn-train`: the loss and the predicted and
/// target class maps, still on the device. They are read back on the metrics thread.
pub struct SegmentationOutput<B: Backend> {
    /// The loss, `[1]`.
    pub loss: Tensor<B, 1>,
    /// Predicted classes `[N, H, W]`.
    pub predictions: Tensor<B, 3, Int>,
    /// Target classes `[N, H, W]` (255 = ignored).
    pub targets: Tensor<B, 3, Int>,
    /// Number of classes `C`.
    pub num_classes: usize,
}

/// The host-side summary of one step: its loss and its confusion matrix.
#[derive(Clone, Debug)]
pub struct SegmentationStats {
    /// The batch loss.
    pub loss: f64,
    /// Number of images in the batch.
    pub batch_size: usize,
    /// The batch confusion matrix.
    pub confusion: ConfusionMatrix,
}

impl<B: Backend> ItemLazy for SegmentationOutput<B> {
    type ItemSync = SegmentationStats;

    fn sync(self) -> SegmentationStats {
        let batch_size = self.targets.dims()[0];
        let [loss, predictions, targets] = Transaction::default()
            .register(self.loss)
            .register(self.predictions)
            .register(self.targets)
            .execute()
            .try_into()
            .expect("three tensors registered");
        let mut confusion = ConfusionMatrix::new(self.num_classes);
        confusion.add(predictions.iter::<i64>(), targets.iter::<i64>());
        SegmentationStats {
            loss: loss.iter::<f64>().next().unwrap_or(f64::NAN),
            batch_size,
            confusion,
        }
    }
}

impl Adaptor<SegmentationStats> for SegmentationStats {
    fn adapt(&self) -> SegmentationStats {
        self.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Metrics.
// ---------------------------------------------------------------------------------------------

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
            aggregated_value: self.batch_value,
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

// ---------------------------------------------------------------------------------------------
// metrics.jsonl
// ---------------------------------------------------------------------------------------------

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number (1-based).
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub train_loss: Option<f64>,
    /// Training mean IoU over the epoch (with the weights changing during the epoch).
    pub train_mean_iou: Option<f64>,
    /// Mean validation loss.
    pub val_loss: Option<f64>,
    /// Validation mean IoU.
    pub val_mean_iou: f64,
    /// Validation mean Dice.
    pub val_mean_dice: f64,
    /// Validation pixel accuracy.
    pub val_pixel_accuracy: f64,
    /// Validation IoU per class (`null` = class absent from targets and predictions).
    pub val_iou: Vec<Option<f64>>,
    /// Validation Dice per class.
    pub val_dice: Vec<Option<f64>>,
    /// Seconds since this process started logging.
    pub elapsed_s: f64,
}

#[derive(Default)]
struct SplitState {
    loss: Option<f64>,
    mean_iou: Option<f64>,
    confusion: Option<ConfusionMatrix>,
}

/// A [`MetricLogger`] that appends one [`EpochRecord`] per epoch to a JSON-lines file when the
/// validation epoch ends. It reads the [`LOSS_NAME`] and [`CLASS_IOU_NAME`] metrics.
pub struct JsonlEpochLogger {
    file: File,
    names: HashMap<MetricId, String>,
    train: SplitState,
    valid: SplitState,
    start: Instant,
}

impl JsonlEpochLogger {
    /// Opens `path` for appending (`append = true`, used when resuming) or truncates it.
    pub fn new(path: &Path, append: bool) -> std::io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)?;
        Ok(Self {
            file,
            names: HashMap::new(),
            train: SplitState::default(),
            valid: SplitState::default(),
            start: Instant::now(),
        })
    }
}

impl MetricLogger for JsonlEpochLogger {
    fn log(&mut self, update: MetricsUpdate, _epoch: usize, split: &Split) {
        let state = match split {
            Split::Train => &mut self.train,
            Split::Valid => &mut self.valid,
            Split::Test(_) => return,
        };
        for numeric in &update.entries_numeric {
            let value = Some(numeric.running_entry.current());
            match self.names.get(&numeric.entry.metric_id).map(String::as_str) {
                Some(LOSS_NAME) => state.loss = value,
                Some(MEAN_IOU_NAME) => state.mean_iou = value,
                _ => {}
            }
        }
        for entry in &update.entries {
            if self.names.get(&entry.metric_id).map(String::as_str) == Some(CLASS_IOU_NAME) {
                state.confusion = serde_json::from_str(&entry.serialized_entry.serialized).ok();
            }
        }
    }

    fn read_numeric(
        &mut self,
        _name: &str,
        _epoch: usize,
        _split: &Split,
    ) -> Result<Vec<NumericEntry>, String> {
        Err("the JSON-lines logger does not serve reads".to_string())
    }

    fn log_metric_definition(&mut self, definition: MetricDefinition) {
        self.names.insert(definition.metric_id, definition.name);
    }

    fn log_epoch_summary(&mut self, summary: EpochSummary) {
        if summary.split != Split::Valid {
            return;
        }
        let train = std::mem::take(&mut self.train);
        let valid = std::mem::take(&mut self.valid);
        let confusion = valid.confusion.unwrap_or_else(|| ConfusionMatrix::new(0));
        let record = EpochRecord {
            epoch: summary.epoch_number,
            train_loss: train.loss,
            train_mean_iou: train.mean_iou,
            val_loss: valid.loss,
            val_mean_iou: confusion.mean_iou(),
            val_mean_dice: confusion.mean_dice(),
            val_pixel_accuracy: confusion.pixel_accuracy(),
            val_iou: confusion.iou(),
            val_dice: confusion.dice(),
            elapsed_s: self.start.elapsed().as_secs_f64(),
        };
        let line = serde_json::to_string(&record).expect("epoch record serialises");
        if let Err(err) = writeln!(self.file, "{line}").and_then(|_| self.file.flush()) {
            eprintln!("warning: cannot write metrics.jsonl: {err}");
        }
    }
}

/// Reads every record of a `metrics.jsonl` file (skipping unparsable lines).
pub fn read_metrics_jsonl(path: &Path) -> std::io::Result<Vec<EpochRecord>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_and_dice_from_confusion() {
        let mut m = ConfusionMatrix::new(3);
        // targets: 0 0 1 1 ; predictions: 0 1 1 1 ; an ignored pixel (255) is skipped.
        m.add([0, 1, 1, 1, 2], [0, 0, 1, 1, 255]);
        let iou = m.iou();
        assert_eq!(iou[0], Some(0.5));
        assert!((iou[1].unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(iou[2], None);
        assert!((m.mean_iou() - (0.5 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert!((m.dice()[1].unwrap() - 0.8).abs() < 1e-12);
    }
}
