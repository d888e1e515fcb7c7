//! How training progress is shown: burn-train's terminal UI, or [`PlainRenderer`]'s lines.

use std::time::Instant;

use burn::train::metric::MetricDefinition;
use burn::train::renderer::{
    EvaluationName, EvaluationProgress, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining, ProgressType, TrainingProgress,
};

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
