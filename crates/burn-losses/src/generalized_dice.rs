use burn::config::Config;
use burn::module::{Content, DisplaySettings, Module, ModuleDisplay};
use burn::tensor::{Int, Tensor, backend::Backend};

use crate::display::one_line_display;
use crate::functional::overlap::Overlap;
use crate::functional::per_class::ClassSet;
use crate::{Activation, GeneralizedDiceWeight, LossConfigError, Reduction, checks};

const LOSS: &str = "GeneralizedDiceLoss";

/// Configuration of a [`GeneralizedDiceLoss`], with MONAI's defaults.
///
/// ```
/// use burn_losses::{GeneralizedDiceLossConfig, GeneralizedDiceWeight};
///
/// let config = GeneralizedDiceLossConfig::new().with_weight_type(GeneralizedDiceWeight::Simple);
/// assert!(config.validate().is_ok());
/// assert!(config.with_smooth_nr(f32::NAN).validate().is_err());
/// ```
#[derive(Config, Debug)]
pub struct GeneralizedDiceLossConfig {
    /// How the class weights follow from the target sums (default `Square`, `1/T²`).
    #[config(default = "GeneralizedDiceWeight::Square")]
    pub weight_type: GeneralizedDiceWeight,
    /// What is applied to the input along axis 1 (default `Softmax`).
    #[config(default = "Activation::Softmax")]
    pub activation: Activation,
    /// Whether channel 0 counts (default `true`).
    #[config(default = true)]
    pub include_background: bool,
    /// Pool the sums over the whole batch: one score (default `false`).
    #[config(default = false)]
    pub batch: bool,
    /// Numerator smoothing `>= 0` (default `1e-5`, MONAI's).
    #[config(default = 1e-5)]
    pub smooth_nr: f32,
    /// Denominator smoothing `>= 0` (default `1e-5`, MONAI's).
    #[config(default = 1e-5)]
    pub smooth_dr: f32,
    /// How per-sample losses are combined (default mean over the batch).
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl GeneralizedDiceLossConfig {
    /// Checks the hyperparameters: `smooth_nr`, `smooth_dr` finite and `>= 0`.
    pub fn validate(&self) -> Result<(), LossConfigError> {
        checks::finite_non_negative(LOSS, "smooth_nr", self.smooth_nr)?;
        checks::finite_non_negative(LOSS, "smooth_dr", self.smooth_dr)
    }

    /// Creates the loss (it holds no tensors; `device` is taken for symmetry with the others).
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) if the configuration is invalid.
    pub fn init<B: Backend>(&self, _device: &B::Device) -> GeneralizedDiceLoss<B> {
        if let Err(err) = self.validate() {
            panic!("{err}");
        }
        GeneralizedDiceLoss {
            weight_type: self.weight_type,
            activation: self.activation,
            include_background: self.include_background,
            batch: self.batch,
            smooth_nr: self.smooth_nr,
            smooth_dr: self.smooth_dr,
            reduction: self.reduction,
            _backend: core::marker::PhantomData,
        }
    }
}

/// Generalized Dice loss (Sudre et al. 2017), exactly MONAI's `GeneralizedDiceLoss`.
///
/// With `x = act(input)` along axis 1, targets `y`, and per row `r` (a sample, or the batch with
/// `batch`) and included class `c` the sums `I_c = Σ x·y`, `P_c = Σ x`, `T_c = Σ y`:
///
/// ```text
/// w_c  = 1/T_c² (Square), 1/T_c (Simple), 1 (Uniform)
/// l[r] = 1 − (2·Σ_c w_c·I_c + s_nr) / (Σ_c w_c·(P_c + T_c) + s_dr)
/// ```
///
/// The weights are constants for the gradient. A class with `T_c = 0` (whose weight would be
/// infinite) takes the largest finite weight among the row's included classes, and `0` when
/// every class is empty — MONAI's rule (`w[infs] = 0; w = w + infs * max(w)`, per sample, or
/// over the batch with `batch`). The included classes are all channels, or all but channel 0
/// with `include_background = false`. Where the denominator is `0` the loss is `0`, not `NaN`.
/// `Mean` averages `l` over the rows, `Sum` sums, `None` returns `[N]` (`[1]` with `batch`);
/// MONAI's `sum`/`none` have the same values here, shaped `[N, 1, ..]`.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::{Int, Tensor};
/// use burn_losses::GeneralizedDiceLossConfig;
///
/// let device = Default::default();
/// let loss = GeneralizedDiceLossConfig::new().init::<NdArray>(&device);
/// let logits = Tensor::<NdArray, 3>::from_floats([[[9.0, -9.0], [-9.0, 9.0]]], &device);
/// let labels = Tensor::<NdArray, 2, Int>::from_ints([[0, 1]], &device);
/// let value: f32 = loss.forward_indices(logits, labels).into_scalar();
/// assert!(value < 1e-3); // an almost perfect prediction
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct GeneralizedDiceLoss<B: Backend> {
    /// The class-weight rule.
    pub weight_type: GeneralizedDiceWeight,
    /// Activation along axis 1.
    pub activation: Activation,
    /// Whether channel 0 counts.
    pub include_background: bool,
    /// Whether the sums are pooled over the batch.
    pub batch: bool,
    /// Numerator smoothing.
    pub smooth_nr: f32,
    /// Denominator smoothing.
    pub smooth_dr: f32,
    /// Reduction over samples.
    pub reduction: Reduction,
    _backend: core::marker::PhantomData<B>,
}

impl<B: Backend> ModuleDisplay for GeneralizedDiceLoss<B> {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        one_line_display()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        content
            .add("weight_type", &format!("{:?}", self.weight_type))
            .add("activation", &format!("{:?}", self.activation))
            .add("include_background", &self.include_background)
            .add("batch", &self.batch)
            .add("smooth_nr", &self.smooth_nr)
            .add("smooth_dr", &self.smooth_dr)
            .add("reduction", &format!("{:?}", self.reduction))
            .optional()
    }
}

impl<B: Backend> GeneralizedDiceLoss<B> {
    /// Computes the loss from the input and one-hot, multi-hot or soft targets of the same
    /// shape.
    ///
    /// # Shapes
    ///
    /// - `logits`: `[N, C, d1, ..., dk]` (`k >= 1`); probabilities with `Activation::None`
    /// - `targets`: the same shape
    /// - output: `[1]` for `Mean` and `Sum`, `[N]` for `None` (`[1]` with `batch`).
    ///
    /// # Panics
    ///
    /// If the shapes differ, or one channel meets `Softmax` or `include_background = false`.
    pub fn forward<const D: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, D>,
    ) -> Tensor<B, 1> {
        let overlap = Overlap::dense(LOSS, logits, targets, self.activation, 1.0, self.batch);
        self.reduce(overlap)
    }

    /// Computes the loss from the input and class-index targets; values outside `[0, C)`
    /// (e.g. `255`) mark pixels left out of every sum.
    ///
    /// # Shapes
    ///
    /// - `logits`: `[N, C, d1, ..., dk]` (`k >= 1`)
    /// - `targets`: `[N, d1, ..., dk]` (`K = D − 1`), class indices
    /// - output: `[1]` for `Mean` and `Sum`, `[N]` for `None` (`[1]` with `batch`).
    ///
    /// # Panics
    ///
    /// On a rank or shape mismatch, and as [`forward`](Self::forward).
    pub fn forward_indices<const D: usize, const K: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, K, Int>,
    ) -> Tensor<B, 1> {
        let overlap = Overlap::indices(LOSS, logits, targets, self.activation, 1.0, self.batch);
        self.reduce(overlap)
    }

    fn reduce(&self, overlap: Overlap<B>) -> Tensor<B, 1> {
        let classes = ClassSet::new(
            LOSS,
            &overlap.dims,
            self.activation,
            None,
            None,
            self.include_background,
            &overlap.device,
        );
        let smooth = [self.smooth_nr, self.smooth_dr];
        overlap.generalized_dice_loss(self.weight_type, &classes, smooth, self.reduction)
    }
}
