//! Training with `burn-train`: data loaders, the learner, checkpoints, resume, `metrics.jsonl`,
//! and the final evaluation. The model wrapper is in [`crate::steps`], progress display in
//! [`crate::progress`].

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::data::dataset::InMemDataset;
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::optim::AdamConfig;
use burn::prelude::*;
use burn::record::CompactRecorder;
use burn::tensor::backend::AutodiffBackend;
use burn::train::checkpoint::KeepLastNCheckpoints;
use burn::train::logger::FileMetricLogger;
use burn::train::{Learner, SupervisedTraining};

use crate::config::{DataSource, TrainConfig};
use crate::data::{
    SegBatch, SegBatcher, SplitData, SyntheticConfig, load_folder_with_progress, progress_lines,
};
use crate::inference::evaluate;
use crate::metrics::{
    ClassIouMetric, ConfusionMatrix, EpochRecord, JsonlEpochLogger, SegmentationMetric,
    read_metrics_jsonl,
};
use crate::model::UNet;
use crate::visual;

pub use crate::inference::{load_model, predict_classes};
pub use crate::progress::{PlainRenderer, Progress};
pub use crate::steps::SegmentationModel;

/// File name (without extension) of the final model in the output directory.
pub const MODEL_FILE: &str = "model";
/// File name of the per-epoch metrics in the output directory.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// What a finished training run returns.
#[derive(Debug)]
pub struct TrainReport<B: Backend> {
    /// The trained network.
    pub model: UNet<B>,
    /// Confusion matrix of the trained network on the validation set.
    pub valid_confusion: ConfusionMatrix,
    /// All records of `metrics.jsonl` (including earlier runs when resumed).
    pub history: Vec<EpochRecord>,
    /// The epoch training resumed after, if it did.
    pub resumed_from: Option<usize>,
    /// Wall-clock seconds spent in this call.
    pub seconds: f64,
    /// Training images in the data set.
    pub num_train: usize,
    /// Validation images in the data set.
    pub num_valid: usize,
}

/// Errors of [`train`].
#[derive(Debug)]
pub struct TrainError(pub String);

impl std::fmt::Display for TrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TrainError {}

impl From<String> for TrainError {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// Loads or generates the data described by `config`; a data folder's loading progress is
/// printed to stderr unless `progress` is [`Progress::Quiet`].
pub fn load_data(config: &TrainConfig, progress: Progress) -> Result<SplitData, TrainError> {
    match &config.data {
        DataSource::Synthetic {
            num_train,
            num_valid,
        } => Ok(
            SyntheticConfig::new(*num_train, *num_valid, config.image_size, config.seed).generate(),
        ),
        DataSource::Folder {
            path,
            valid_fraction,
        } => {
            let print = progress_lines(format!("loading {}", path.display()));
            let report: &(dyn Fn(usize, usize) + Sync) = match progress {
                Progress::Quiet => &|_, _| {},
                _ => &print,
            };
            load_folder_with_progress(
                path,
                config.image_size,
                config.loss.num_classes,
                *valid_fraction,
                config.seed,
                report,
            )
            .map_err(|e| TrainError(e.to_string()))
        }
    }
}

/// The highest epoch with a saved model checkpoint under `<output_dir>/checkpoint`, if any.
pub fn last_checkpoint(output_dir: &Path) -> Option<usize> {
    std::fs::read_dir(output_dir.join("checkpoint"))
        .ok()?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("model-")?
                .split('.')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .max()
}

/// What an earlier run leaves in an output directory: burn-train's checkpoints, per-epoch
/// logs and experiment log, and this demo's metrics, model and panels (`config.json` is
/// rewritten by every run).
pub const RUN_ARTIFACTS: [&str; 7] = [
    "checkpoint",
    "train",
    "valid",
    "experiment.log",
    METRICS_FILE,
    "model.mpk",
    "panels",
];

/// Removes the [`RUN_ARTIFACTS`] present in `out`; returns the names removed.
pub fn clear_previous_run(out: &Path) -> Result<Vec<String>, TrainError> {
    let mut cleared = Vec::new();
    for name in RUN_ARTIFACTS {
        let path = out.join(name);
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else if path.exists() {
            std::fs::remove_file(&path)
        } else {
            continue;
        };
        removed.map_err(|e| TrainError(format!("cannot clear {}: {e}", path.display())))?;
        cleared.push(name.to_string());
    }
    Ok(cleared)
}

/// Trains a U-Net as described by `config` on `device`, writing checkpoints (every epoch),
/// `config.json`, `metrics.jsonl`, the final `model.mpk` and validation panels to
/// `config.output_dir`. With `resume`, training continues after the last checkpoint.
pub fn train<B: AutodiffBackend>(
    config: &TrainConfig,
    resume: bool,
    device: &B::Device,
    progress: Progress,
) -> Result<TrainReport<B::InnerBackend>, TrainError> {
    let start = Instant::now();
    config.validate()?;
    let out = &config.output_dir;
    let resumed_from = if resume {
        Some(last_checkpoint(out).ok_or_else(|| {
            TrainError(format!(
                "--resume: no checkpoint found in {}",
                out.join("checkpoint").display()
            ))
        })?)
    } else {
        None
    };
    // Load the data before touching the output directory, so that a bad --data-dir does not
    // clear an earlier run's checkpoints.
    let data = load_data(config, progress)?;
    if resumed_from.is_none() {
        // A fresh run must not pick up an earlier run's checkpoints, nor mix its epoch logs
        // into burn-train's end-of-run summary.
        let cleared = clear_previous_run(out)?;
        if !cleared.is_empty() && progress != Progress::Quiet {
            println!(
                "fresh run in {}: removed {} of an earlier run (use --resume to continue it)",
                out.display(),
                cleared.join(", ")
            );
        }
    }
    config
        .save()
        .map_err(|e| TrainError(format!("cannot write to {}: {e}", out.display())))?;

    let num_train = data.train.len();
    let batches_per_epoch = num_train.div_ceil(config.batch_size);

    B::seed(device, config.seed);
    let train_loader: Arc<dyn DataLoader<B, SegBatch<B>>> = DataLoaderBuilder::new(SegBatcher)
        .batch_size(config.batch_size)
        .shuffle(config.seed)
        .set_device(device.clone())
        .build(InMemDataset::new(data.train));
    let valid_loader: Arc<dyn DataLoader<B::InnerBackend, SegBatch<B::InnerBackend>>> =
        DataLoaderBuilder::new(SegBatcher)
            .batch_size(config.batch_size)
            .set_device(device.clone())
            .build(InMemDataset::new(data.valid.clone()));

    let model = SegmentationModel {
        net: config.unet().init::<B>(device),
        loss: config.loss.clone(),
    };
    let scheduler = CosineAnnealingLrSchedulerConfig::new(
        config.learning_rate,
        (config.epochs * batches_per_epoch).max(1),
    )
    .with_min_lr(config.learning_rate * 0.01)
    .init()
    .map_err(TrainError)?;
    let learner = Learner::new(model, AdamConfig::new().init(), scheduler);

    if let Some(epoch) = resumed_from {
        // Drop records of epochs after the checkpoint (an interrupted run may have written them).
        let path = out.join(METRICS_FILE);
        let kept: Vec<String> = read_metrics_jsonl(&path)
            .unwrap_or_default()
            .iter()
            .filter(|r| r.epoch <= epoch)
            .map(|r| serde_json::to_string(r).expect("epoch record serialises") + "\n")
            .collect();
        std::fs::write(&path, kept.concat())
            .map_err(|e| TrainError(format!("cannot write {}: {e}", path.display())))?;
    }
    let jsonl = JsonlEpochLogger::new(&out.join(METRICS_FILE), resume).map_err(|e| {
        TrainError(format!(
            "cannot write {}: {e}",
            out.join(METRICS_FILE).display()
        ))
    })?;
    let mut training = SupervisedTraining::new(out, train_loader, valid_loader)
        .metric_train_numeric(SegmentationMetric::loss())
        .metric_valid_numeric(SegmentationMetric::loss())
        .metric_train_numeric(SegmentationMetric::mean_iou())
        .metric_valid_numeric(SegmentationMetric::mean_iou())
        .metric_valid_numeric(SegmentationMetric::mean_dice())
        .metric_valid(ClassIouMetric::new())
        .with_metric_logger(jsonl)
        .with_metric_logger(FileMetricLogger::new(out))
        .with_file_checkpointer(CompactRecorder::new())
        .with_checkpointing_strategy(KeepLastNCheckpoints::new(2))
        .num_epochs(config.epochs);
    if let Some(epoch) = resumed_from {
        training = training.checkpoint(epoch);
    }
    let use_tui = progress == Progress::Auto && std::io::stdout().is_terminal();
    if !use_tui {
        training = training.renderer(PlainRenderer::new(progress == Progress::Quiet));
    }
    if progress != Progress::Quiet {
        training = training.summary();
    }
    let result = training.launch(learner);
    drop(result.renderer);
    let model = result.model.net;

    model
        .clone()
        .save_file(out.join(MODEL_FILE), &CompactRecorder::new())
        .map_err(|e| TrainError(format!("cannot save the model in {}: {e}", out.display())))?;

    let (valid_confusion, panels) = evaluate(
        &model,
        &data.valid,
        config.batch_size,
        config.num_panels,
        device,
    );
    visual::write_panels(out, &panels).map_err(TrainError)?;

    let history = read_metrics_jsonl(&out.join(METRICS_FILE)).unwrap_or_default();
    Ok(TrainReport {
        model,
        valid_confusion,
        history,
        resumed_from,
        seconds: start.elapsed().as_secs_f64(),
        num_train,
        num_valid: data.valid.len(),
    })
}
