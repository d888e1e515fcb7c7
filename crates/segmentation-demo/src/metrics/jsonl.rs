//! The logger writing `metrics.jsonl`, one [`EpochRecord`] per epoch, and its reader.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use burn::train::logger::MetricLogger;
use burn::train::metric::store::{EpochSummary, MetricsUpdate, Split};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use serde::{Deserialize, Serialize};

use super::{CLASS_IOU_NAME, ConfusionMatrix, LOSS_NAME, MEAN_IOU_NAME};

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
