//! The step output handed to `burn-train` and its host-side summary.

use burn::prelude::*;
use burn::tensor::Transaction;
use burn::train::ItemLazy;
use burn::train::metric::Adaptor;

use super::ConfusionMatrix;

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
