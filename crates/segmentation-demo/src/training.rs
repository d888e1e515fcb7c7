//! Training with `burn-train`: the model wrapper implementing [`TrainStep`] / [`InferenceStep`],
//! data loaders, the learner, checkpoints, resume, `metrics.jsonl`, and the final evaluation.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
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
use burn::train::metric::MetricDefinition;
use burn::train::renderer::{
    EvaluationName, EvaluationProgress, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining, ProgressType, TrainingProgress,
};
use burn::train::{InferenceStep, Learner, SupervisedTraining, TrainOutput, TrainStep};

use crate::config::{DataSource, TrainConfig};
use crate::data::{SegBatch, SegBatcher, SegSample, SplitData, SyntheticConfig, load_folder};
use crate::loss::LossSpec;
use crate::metrics::{
    ClassIouMetric, ConfusionMatrix, EpochRecord, JsonlEpochLogger, SegmentationMetric,
    SegmentationOutput, read_metrics_jsonl,
};
use crate::model::{UNet, UNetConfig};
use crate::visual::{self, ValidationPanel};

/// File name (without extension) of the final model in the output directory.
pub const MODEL_FILE: &str = "model";
/// File name of the per-epoch metrics in the output directory.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// The network plus the loss it trains with: what the learner optimises.
#[derive(Module, Debug)]
pub struct SegmentationModel<B: Backend> {
    /// The U-Net.
    pub net: UNet<B>,
    /// The loss settings (not a parameter; not saved in records).
    #[module(skip)]
    pub loss: LossSpec,
}

impl<B: Backend> SegmentationModel<B> {
    /// Forward pass, loss, and arg-max predictions for a batch.
    pub fn forward_step(&self, batch: SegBatch<B>) -> SegmentationOutput<B> {
        let logits = self.net.forward(batch.images);
        let loss = self.loss.forward(logits.clone(), batch.masks.clone());
        SegmentationOutput {
            loss,
            predictions: predict_classes(logits),
            targets: batch.masks,
            num_classes: self.loss.num_classes,
        }
    }
}

/// Arg-max over the class axis: logits `[N, C, H, W]` to classes `[N, H, W]`.
pub fn predict_classes<B: Backend>(logits: Tensor<B, 4>) -> Tensor<B, 3, Int> {
    let [n, _, h, w] = logits.dims();
    logits.argmax(1).reshape([n, h, w])
}

impl<B: AutodiffBackend> TrainStep for SegmentationModel<B> {
    type Input = SegBatch<B>;
    type Output = SegmentationOutput<B>;

    fn step(&self, batch: SegBatch<B>) -> TrainOutput<SegmentationOutput<B>> {
        let mut output = self.forward_step(batch);
        let grads = output.loss.backward();
        output.loss = output.loss.detach();
        TrainOutput::new(self, grads, output)
    }
}

impl<B: Backend> InferenceStep for SegmentationModel<B> {
    type Input = SegBatch<B>;
    type Output = SegmentationOutput<B>;

    fn step(&self, batch: SegBatch<B>) -> SegmentationOutput<B> {
        self.forward_step(batch)
    }
}

/// How training progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// burn-train's terminal UI when stdout is a terminal, plain lines otherwise.
    Auto,
    /// Plain lines (one per epoch and split, plus one every few seconds).
    Plain,
    /// Nothing (used by tests and the benchmark).
    Quiet,
}

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

/// Loads or generates the data described by `config`.
pub fn load_data(config: &TrainConfig) -> Result<SplitData, TrainError> {
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
        } => load_folder(
            path,
            config.image_size,
            config.loss.num_classes,
            *valid_fraction,
            config.seed,
        )
        .map_err(|e| TrainError(e.to_string())),
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
    let data = load_data(config)?;
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
        net: UNetConfig::new(config.loss.num_classes)
            .with_base_width(config.base_width)
            .init::<B>(device),
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
    })
}

/// Runs `model` over `samples`, returning their confusion matrix and the first `num_panels`
/// (image, ground truth, prediction) triples.
pub fn evaluate<B: Backend>(
    model: &UNet<B>,
    samples: &[SegSample],
    batch_size: usize,
    num_panels: usize,
    device: &B::Device,
) -> (ConfusionMatrix, Vec<ValidationPanel>) {
    let num_classes = model_num_classes(model);
    let mut confusion = ConfusionMatrix::new(num_classes);
    let mut panels = Vec::new();
    for chunk in samples.chunks(batch_size.max(1)) {
        let batch: SegBatch<B> =
            burn::data::dataloader::batcher::Batcher::batch(&SegBatcher, chunk.to_vec(), device);
        let predictions = predict_classes(model.forward(batch.images));
        let predictions: Vec<i64> = predictions.into_data().iter::<i64>().collect();
        let targets = chunk.iter().flat_map(|s| s.mask.iter().map(|&m| m as i64));
        confusion.add(predictions.iter().copied(), targets);
        let pixels = chunk[0].size * chunk[0].size;
        for (sample, prediction) in chunk.iter().zip(predictions.chunks(pixels)) {
            if panels.len() < num_panels {
                panels.push(ValidationPanel {
                    sample: sample.clone(),
                    prediction: prediction.iter().map(|&p| p as u8).collect(),
                });
            }
        }
    }
    (confusion, panels)
}

/// The number of classes a trained network predicts.
pub fn model_num_classes<B: Backend>(model: &UNet<B>) -> usize {
    model.num_classes()
}

/// Loads `<dir>/model.mpk` written by [`train`], using `<dir>/config.json` for its shape.
pub fn load_model<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(UNet<B>, TrainConfig), TrainError> {
    let config = TrainConfig::load(dir)?;
    let path: PathBuf = dir.join(MODEL_FILE);
    let model = UNetConfig::new(config.loss.num_classes)
        .with_base_width(config.base_width)
        .init::<B>(device)
        .load_file(&path, &CompactRecorder::new(), device)
        .map_err(|e| TrainError(format!("cannot load {}.mpk: {e}", path.display())))?;
    Ok((model, config))
}

/// Renders progress as plain text lines: at the end of every training and validation epoch,
/// and at most every 10 seconds within one.
pub struct PlainRenderer {
    quiet: bool,
    names: std::collections::HashMap<burn::train::metric::MetricId, String>,
    latest: std::collections::BTreeMap<String, String>,
    last_print: Instant,
}

impl PlainRenderer {
    /// A renderer; `quiet` prints nothing.
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            names: Default::default(),
            latest: Default::default(),
            last_print: Instant::now(),
        }
    }

    fn update(&mut self, state: MetricState) {
        let entry = match state {
            MetricState::Generic(entry) | MetricState::Numeric(entry, _) => entry,
        };
        if let Some(name) = self.names.get(&entry.metric_id) {
            self.latest
                .insert(name.clone(), entry.serialized_entry.formatted);
        }
    }

    fn render(&mut self, split: &str, item: TrainingProgress) {
        if self.quiet {
            return;
        }
        let (done, total) = item
            .progress
            .as_ref()
            .map_or((0, 0), |p| (p.items_processed, p.items_total));
        let epoch_end = done == total;
        if !epoch_end && self.last_print.elapsed().as_secs() < 10 {
            return;
        }
        self.last_print = Instant::now();
        let metrics: Vec<String> = self
            .latest
            .iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        println!(
            "epoch {}/{} {split} [{done}/{total}] {}",
            item.global_progress.items_processed,
            item.global_progress.items_total,
            metrics.join(" | ")
        );
        if epoch_end {
            self.latest.clear();
        }
    }
}

impl MetricsRendererTraining for PlainRenderer {
    fn update_train(&mut self, state: MetricState) {
        self.update(state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.update(state);
    }

    fn render_train(&mut self, item: TrainingProgress, _indicators: Vec<ProgressType>) {
        self.render("train", item);
    }

    fn render_valid(&mut self, item: TrainingProgress, _indicators: Vec<ProgressType>) {
        self.render("valid", item);
    }

    fn on_train_end(
        &mut self,
        summary: Option<burn::train::LearnerSummary>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        if let (false, Some(summary)) = (self.quiet, summary) {
            println!("{summary}");
        }
        Ok(())
    }
}

impl MetricsRendererEvaluation for PlainRenderer {
    fn update_test(&mut self, _name: EvaluationName, state: MetricState) {
        self.update(state);
    }

    fn render_test(&mut self, item: EvaluationProgress, _indicators: Vec<ProgressType>) {
        self.render("test", (&item).into());
    }
}

impl MetricsRenderer for PlainRenderer {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names.insert(definition.metric_id, definition.name);
    }
}
