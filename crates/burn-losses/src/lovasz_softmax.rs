use burn::config::Config;
use burn::module::{Content, DisplaySettings, Module, ModuleDisplay};
use burn::tensor::activation::softmax;
use burn::tensor::{Int, Tensor, backend::Backend};

use crate::display::one_line_display;
use crate::functional::lovasz::lovasz_extension;
use crate::functional::math::safe_div;
use crate::functional::targets::{ClassTargets, to_ncs};
use crate::{LossConfigError, LovaszClasses, checks, one_hot};

const LOSS: &str = "LovaszSoftmaxLoss";

/// Configuration of a [`LovaszSoftmaxLoss`], with smp's defaults.
///
/// ```
/// use burn_losses::{LovaszClasses, LovaszSoftmaxLossConfig};
///
/// let config = LovaszSoftmaxLossConfig::new()
///     .with_classes(LovaszClasses::All)
///     .with_per_image(true)
///     .with_ignore_index(255);
/// assert_eq!(config.classes, LovaszClasses::All);
/// ```
#[derive(Config, Debug)]
pub struct LovaszSoftmaxLossConfig {
    /// Which classes are averaged (default `Present`).
    #[config(default = "LovaszClasses::Present")]
    pub classes: LovaszClasses,
    /// One loss per image, averaged over the batch (default `false`: one loss for the batch).
    #[config(default = false)]
    pub per_image: bool,
    /// Target value whose pixels do not count (default `-100`).
    #[config(default = -100)]
    pub ignore_index: i64,
    /// Check that every target is `ignore_index` or in `[0, C)` and panic otherwise (one host
    /// read per `forward`); with it off, out-of-range targets are treated as ignored.
    #[config(default = true)]
    pub check_targets: bool,
}

impl LovaszSoftmaxLossConfig {
    /// Checks the configuration. Every value of every field is valid (the class count and the
    /// targets are checked by `forward`), so this always succeeds; it exists so that every
    /// config of the crate can be validated the same way.
    pub fn validate(&self) -> Result<(), LossConfigError> {
        Ok(())
    }

    /// Creates the loss (it holds no tensors; `device` is taken for symmetry with the others).
    pub fn init<B: Backend>(&self, _device: &B::Device) -> LovaszSoftmaxLoss<B> {
        LovaszSoftmaxLoss {
            classes: self.classes,
            per_image: self.per_image,
            ignore_index: self.ignore_index,
            check_targets: self.check_targets,
            _backend: core::marker::PhantomData,
        }
    }
}

/// Lovász-softmax loss (Berman et al., *The Lovász-Softmax loss*, CVPR 2018): a convex surrogate
/// of the mean Jaccard loss (1 − IoU) that is optimised directly.
///
/// With `p = softmax(logits)` over axis 1 and, per class `c`, the errors `e_i = |[y_i = c] − p_i[c]|`
/// over the pixels of the batch (or of each image with `per_image`) sorted in decreasing order,
///
/// ```text
/// L_c = Σ_k e_(k) · (J_k − J_{k−1}),   J_k = 1 − |G_c ∖ top_k| / |G_c ∪ top_k|
/// L   = mean over the classes (Present: those occurring in the target) of L_c
/// ```
///
/// where `G_c` is the set of pixels of class `c` and `top_k` the `k` pixels with the largest
/// errors (`J_k − J_{k−1}` is the gradient of the Lovász extension of the Jaccard loss). With
/// `per_image`, `L` is the mean over the images of each image's loss.
///
/// Pixels whose target is `ignore_index` (or, with `check_targets(false)`, outside `[0, C)`)
/// count nowhere; they keep their place in the sort and contribute 0, so no shape depends on
/// the data. A batch — with `per_image`, an image — with every pixel ignored scores `0` with
/// zero gradient (counted as `0` in the mean over images, as smp); `Present` with no class
/// present likewise. The weights `J_k − J_{k−1}` are constants for the gradient, as in the
/// references; with tied errors the gradient is one of the valid subgradients.
///
/// The sort runs on the device (`sort_descending_with_indices`); see `docs/lovasz.md` for its
/// cost on each backend.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::{Int, Tensor};
/// use burn_losses::LovaszSoftmaxLossConfig;
///
/// let device = Default::default();
/// let loss = LovaszSoftmaxLossConfig::new().init::<NdArray>(&device);
/// let logits = Tensor::<NdArray, 3>::from_floats([[[4.0, -4.0], [-4.0, 4.0]]], &device);
/// let labels = Tensor::<NdArray, 2, Int>::from_ints([[0, 1]], &device);
/// let value: f32 = loss.forward(logits, labels).into_scalar();
/// assert!(value < 0.01); // confident and right
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct LovaszSoftmaxLoss<B: Backend> {
    /// Which classes are averaged.
    pub classes: LovaszClasses,
    /// Whether the loss is computed per image.
    pub per_image: bool,
    /// Target value that does not count.
    pub ignore_index: i64,
    /// Whether `forward` checks the target range (one host read per call).
    pub check_targets: bool,
    _backend: core::marker::PhantomData<B>,
}

impl<B: Backend> ModuleDisplay for LovaszSoftmaxLoss<B> {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        one_line_display()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        content
            .add("classes", &format!("{:?}", self.classes))
            .add("per_image", &self.per_image)
            .add("ignore_index", &self.ignore_index)
            .optional()
    }
}

impl<B: Backend> LovaszSoftmaxLoss<B> {
    /// Computes the loss.
    ///
    /// # Shapes
    ///
    /// - `logits`: `[N, C, d1, ..., dk]` (`k >= 0`)
    /// - `targets`: `[N, d1, ..., dk]` (`K = D − 1`), class indices
    /// - output: `[1]`
    ///
    /// # Panics
    ///
    /// On a rank or shape mismatch, and (while `check_targets` is on) a target outside
    /// `[0, C)` that is not `ignore_index`.
    pub fn forward<const D: usize, const K: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, K, Int>,
    ) -> Tensor<B, 1> {
        let num_classes = checks::class_index_shapes(LOSS, &logits.dims(), &targets.dims());
        let targets = ClassTargets::new(
            LOSS,
            targets,
            num_classes,
            self.ignore_index,
            self.check_targets,
        );
        let probs = softmax(to_ncs(logits), 1);
        let [batch, _, pixels] = probs.dims();
        let valid = targets.valid.float(); // [N, 1, S]
        let truth: Tensor<B, 3> = one_hot::<B, 3, 3>(targets.index, num_classes) * valid.clone();
        let errors = (truth.clone() - probs).abs();
        let valid = valid.expand([batch, num_classes, pixels]);
        // Rows: one per (image, class), or one per class over the whole batch.
        let rows = |t: Tensor<B, 3>| -> Tensor<B, 2> {
            if self.per_image {
                t.reshape([batch * num_classes, pixels])
            } else {
                t.swap_dims(0, 1).reshape([num_classes, batch * pixels])
            }
        };
        let present = rows(truth.clone()).sum_dim(1).greater_elem(0.0).float();
        let losses = lovasz_extension(rows(errors), rows(truth), rows(valid));
        let images = if self.per_image { batch } else { 1 };
        let losses = losses.reshape([images, num_classes]);
        let present = present.reshape([images, num_classes]);
        let per_image = match self.classes {
            LovaszClasses::Present => {
                safe_div((losses * present.clone()).sum_dim(1), present.sum_dim(1))
            }
            // A row with no pixel left has every weight 0, so its loss is already 0.
            LovaszClasses::All => losses.mean_dim(1),
        };
        per_image.mean()
    }
}
