//! [`SegmentationModel`]: the network plus its loss, implementing `burn-train`'s
//! [`TrainStep`] and [`InferenceStep`].

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::train::{InferenceStep, TrainOutput, TrainStep};

use crate::data::SegBatch;
use crate::inference::predict_classes;
use crate::loss::LossSpec;
use crate::metrics::SegmentationOutput;
use crate::model::UNet;

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
