use burn::config::Config;
use burn::module::{Content, DisplaySettings, Module, ModuleDisplay};
use burn::tensor::activation::relu;
use burn::tensor::{Tensor, backend::Backend};

use crate::display::one_line_display;
use crate::functional::lovasz::lovasz_extension;
use crate::{LossConfigError, checks};

const LOSS: &str = "LovaszHingeLoss";

/// Configuration of a [`LovaszHingeLoss`], with smp's defaults.
///
/// ```
/// use burn_losses::LovaszHingeLossConfig;
///
/// let config = LovaszHingeLossConfig::new().with_per_image(true).with_ignore_value(Some(255.0));
/// assert!(config.validate().is_ok());
/// assert!(config.with_ignore_value(Some(f32::NAN)).validate().is_err());
/// ```
#[derive(Config, Debug)]
pub struct LovaszHingeLossConfig {
    /// One loss per image, averaged over the batch (default `false`: one for the batch).
    #[config(default = false)]
    pub per_image: bool,
    /// Target value whose elements do not count, if any (default `None`).
    pub ignore_value: Option<f32>,
}

impl LovaszHingeLossConfig {
    /// Checks the hyperparameters: `ignore_value` finite.
    pub fn validate(&self) -> Result<(), LossConfigError> {
        checks::optional_finite(LOSS, "ignore_value", self.ignore_value)
    }

    /// Creates the loss (it holds no tensors; `device` is taken for symmetry with the others).
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) if the configuration is invalid.
    pub fn init<B: Backend>(&self, _device: &B::Device) -> LovaszHingeLoss<B> {
        if let Err(err) = self.validate() {
            panic!("{err}");
        }
        LovaszHingeLoss {
            per_image: self.per_image,
            ignore_value: self.ignore_value,
            _backend: core::marker::PhantomData,
        }
    }
}

/// Lovász hinge loss (Berman et al. 2018): the binary Lovász extension of the Jaccard loss on
/// hinge errors of logits.
///
/// With logits `x`, 0/1 targets `y`, signs `s = 2y − 1` and hinge errors `e = 1 − x·s` over the
/// elements of the batch (or of each image with `per_image`) sorted in decreasing order,
///
/// ```text
/// L = Σ_k relu(e_(k)) · (J_k − J_{k−1}),   J_k = 1 − |G ∖ top_k| / |G ∪ top_k|
/// ```
///
/// with `G` the positive elements. With `per_image`, `L` is the mean over the images. Elements
/// whose target equals `ignore_value` count nowhere (they keep their place in the sort and
/// contribute 0); an all-ignored batch scores `0` with zero gradient, and with `per_image` an
/// all-ignored image counts as `0` in the mean (as smp).
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::Tensor;
/// use burn_losses::LovaszHingeLossConfig;
///
/// let device = Default::default();
/// let loss = LovaszHingeLossConfig::new().init::<NdArray>(&device);
/// let logits = Tensor::<NdArray, 2>::from_floats([[3.0, -3.0, 2.0]], &device);
/// let masks = Tensor::<NdArray, 2>::from_floats([[1.0, 0.0, 1.0]], &device);
/// let value: f32 = loss.forward(logits, masks).into_scalar();
/// assert_eq!(value, 0.0); // every margin above 1
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct LovaszHingeLoss<B: Backend> {
    /// Whether the loss is computed per image.
    pub per_image: bool,
    /// Target value that does not count, if any.
    pub ignore_value: Option<f32>,
    _backend: core::marker::PhantomData<B>,
}

impl<B: Backend> ModuleDisplay for LovaszHingeLoss<B> {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        one_line_display()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        content
            .add("per_image", &self.per_image)
            .add("ignore_value", &format!("{:?}", self.ignore_value))
            .optional()
    }
}

impl<B: Backend> LovaszHingeLoss<B> {
    /// Computes the loss.
    ///
    /// # Shapes
    ///
    /// - `logits`: `[N, d1, ..., dk]` (any rank `>= 1`; e.g. `[N, 1, H, W]`)
    /// - `targets`: the same shape, 0/1 (or `ignore_value`)
    /// - output: `[1]`
    ///
    /// # Panics
    ///
    /// If the shapes differ.
    pub fn forward<const D: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, D>,
    ) -> Tensor<B, 1> {
        let dims = logits.dims();
        checks::same_shapes(LOSS, ["logits", "targets"], &dims, &targets.dims(), 1);
        let rows = if self.per_image { dims[0] } else { 1 };
        let elements = dims.iter().product::<usize>() / rows;
        let logits = logits.reshape([rows, elements]);
        let targets = targets.reshape([rows, elements]);
        let valid = match self.ignore_value {
            Some(value) => targets.clone().not_equal_elem(value).float(),
            None => targets.ones_like(),
        };
        let truth = targets * valid.clone();
        let signs = truth.clone().mul_scalar(2.0).sub_scalar(1.0);
        let errors = relu((logits * signs).neg().add_scalar(1.0));
        lovasz_extension(errors, truth, valid).mean()
    }
}
