//! The smallest burn-train integration: a model whose `TrainStep` and `InferenceStep` compute a
//! burn-losses loss, then a few optimiser steps through them. Copy the two `impl` blocks; swap
//! in any loss of the crate.
//!
//! ```sh
//! cargo run --example train_step
//! ```

use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use burn::nn::{Linear, LinearConfig};
use burn::optim::AdamConfig;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};
use burn_losses::{CrossEntropyLoss, CrossEntropyLossConfig};

/// A linear classifier that carries its loss (a module like any other).
#[derive(Module, Debug)]
struct Classifier<B: Backend> {
    linear: Linear<B>,
    loss: CrossEntropyLoss<B>,
}

impl<B: Backend> Classifier<B> {
    fn forward_classification(
        &self,
        inputs: Tensor<B, 2>,
        targets: Tensor<B, 1, Int>,
    ) -> ClassificationOutput<B> {
        let logits = self.linear.forward(inputs);
        let loss = self.loss.forward(logits.clone(), targets.clone());
        ClassificationOutput::new(loss, logits, targets)
    }
}

impl<B: AutodiffBackend> TrainStep for Classifier<B> {
    type Input = (Tensor<B, 2>, Tensor<B, 1, Int>);
    type Output = ClassificationOutput<B>;

    fn step(&self, (inputs, targets): Self::Input) -> TrainOutput<Self::Output> {
        let item = self.forward_classification(inputs, targets);
        TrainOutput::new(self, item.loss.backward(), item)
    }
}

impl<B: Backend> InferenceStep for Classifier<B> {
    type Input = (Tensor<B, 2>, Tensor<B, 1, Int>);
    type Output = ClassificationOutput<B>;

    fn step(&self, (inputs, targets): Self::Input) -> Self::Output {
        self.forward_classification(inputs, targets)
    }
}

fn main() {
    type B = Autodiff<NdArray<f32>>;
    let device = Default::default();
    B::seed(&device, 1);
    let mut model = Classifier {
        linear: LinearConfig::new(2, 3).init::<B>(&device),
        loss: CrossEntropyLossConfig::new()
            .with_label_smoothing(0.05)
            .init(&device),
    };
    // Three separable clusters.
    let inputs = Tensor::<B, 2>::from_floats(
        [
            [2.0, 0.0],
            [2.2, 0.3],
            [0.0, 2.0],
            [0.2, 2.1],
            [-2.0, -2.0],
            [-2.1, -1.8],
        ],
        &device,
    );
    let targets = Tensor::<B, 1, Int>::from_ints([0, 0, 1, 1, 2, 2], &device);

    let mut optimizer = AdamConfig::new().init();
    let mut losses = Vec::new();
    for _ in 0..50 {
        let output = TrainStep::step(&model, (inputs.clone(), targets.clone()));
        losses.push(output.item.loss.into_scalar());
        model = model.optimize(&mut optimizer, 0.1, output.grads);
    }
    let valid = InferenceStep::step(&model.valid(), (inputs.inner(), targets.inner()));
    let accuracy: f32 = valid
        .output
        .argmax(1)
        .squeeze_dim::<1>(1)
        .equal(valid.targets)
        .float()
        .mean()
        .into_scalar();
    println!(
        "loss {:.4} -> {:.4}, validation loss {:.4}, accuracy {accuracy}",
        losses[0],
        losses[losses.len() - 1],
        valid.loss.into_scalar()
    );
    assert!(losses[losses.len() - 1] < losses[0], "the loss falls");
    assert_eq!(accuracy, 1.0, "three separable clusters are learned");
}
