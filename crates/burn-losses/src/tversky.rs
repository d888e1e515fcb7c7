use burn::config::Config;
use burn::module::{Content, DisplaySettings, Module, ModuleDisplay};
use burn::tensor::{Int, Tensor, backend::Backend};

use crate::display::one_line_display;
use crate::functional::overlap::{Overlap, Ratio};
use crate::functional::per_class::ClassSet;
use crate::{Activation, EmptyClass, LossConfigError, Reduction, checks};

const LOSS: &str = "TverskyLoss";

/// Configuration of a [`TverskyLoss`] (and focal Tversky loss, with `gamma != 1`).
///
/// ```
/// use burn_losses::TverskyLossConfig;
///
/// // Penalise missed foreground (false negatives) more than false alarms.
/// let config = TverskyLossConfig::new().with_alpha(0.3).with_beta(0.7).with_gamma(0.75);
/// assert!(config.validate().is_ok());
/// assert!(config.with_alpha(0.0).with_beta(0.0).validate().is_err());
/// ```
#[derive(Config, Debug)]
pub struct TverskyLossConfig {
    /// Weight `α >= 0` of the false positives (default `0.5`).
    #[config(default = 0.5)]
    pub alpha: f32,
    /// Weight `β >= 0` of the false negatives (default `0.5`); `α = β = 0.5` is Dice.
    #[config(default = 0.5)]
    pub beta: f32,
    /// Exponent `γ > 0` of the class mean (default `1`; smp's focal Tversky `gamma`).
    #[config(default = 1.0)]
    pub gamma: f32,
    /// What is applied to the input along axis 1 (default `Softmax`).
    #[config(default = "Activation::Softmax")]
    pub activation: Activation,
    /// Whether channel 0 counts (default `true`).
    #[config(default = true)]
    pub include_background: bool,
    /// A class channel left out of the loss, if any.
    pub ignore_index: Option<usize>,
    /// Pool the sums over the whole batch (default `false`).
    #[config(default = false)]
    pub batch: bool,
    /// Numerator smoothing `>= 0` (default `1e-5`, MONAI's).
    #[config(default = 1e-5)]
    pub smooth_nr: f32,
    /// Denominator smoothing `>= 0` (default `1e-5`, MONAI's).
    #[config(default = 1e-5)]
    pub smooth_dr: f32,
    /// Weight `w[c] >= 0` of each input channel's loss, `C` entries; `None` weighs every
    /// class 1.
    pub weight: Option<Vec<f32>>,
    /// What a class with an empty target does (default `Keep`).
    #[config(default = "EmptyClass::Keep")]
    pub empty_class: EmptyClass,
    /// How per-sample losses are combined (default mean over the batch).
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl TverskyLossConfig {
    /// Checks the hyperparameters: `alpha`, `beta` finite and `>= 0` and not both `0`,
    /// `gamma` finite and `> 0`, smoothing finite and `>= 0`, `weight` entries finite and
    /// `>= 0`.
    pub fn validate(&self) -> Result<(), LossConfigError> {
        checks::finite_non_negative(LOSS, "alpha", self.alpha)?;
        checks::finite_non_negative(LOSS, "beta", self.beta)?;
        let sum = self.alpha + self.beta;
        checks::scalar(LOSS, "alpha + beta", sum, sum > 0.0, "> 0 (not both 0)")?;
        checks::scalar(
            LOSS,
            "gamma",
            self.gamma,
            self.gamma > 0.0 && self.gamma.is_finite(),
            "finite and > 0",
        )?;
        checks::finite_non_negative(LOSS, "smooth_nr", self.smooth_nr)?;
        checks::finite_non_negative(LOSS, "smooth_dr", self.smooth_dr)?;
        checks::optional_per_class_values(LOSS, "weight", self.weight.as_deref())
    }

    /// Creates the loss on `device`.
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) if the configuration is invalid.
    pub fn init<B: Backend>(&self, device: &B::Device) -> TverskyLoss<B> {
        if let Err(err) = self.validate() {
            panic!("{err}");
        }
        TverskyLoss {
            alpha: self.alpha,
            beta: self.beta,
            gamma: self.gamma,
            activation: self.activation,
            include_background: self.include_background,
            ignore_index: self.ignore_index,
            batch: self.batch,
            smooth_nr: self.smooth_nr,
            smooth_dr: self.smooth_dr,
            weight: self
                .weight
                .as_ref()
                .map(|w| Tensor::from_floats(w.as_slice(), device)),
            empty_class: self.empty_class,
            reduction: self.reduction,
        }
    }
}

/// Tversky loss (Salehi et al. 2017), and with `γ != 1` the focal Tversky loss (Abraham &
/// Khan 2019, in smp's form).
///
/// With `x = act(input)` along axis 1, targets `y`, and per row `r` (a sample, or the batch
/// with `batch`) and class `c`: `I = Σ x·y`, `FP = Σ x·(1 − y)`, `FN = Σ (1 − x)·y`,
///
/// ```text
/// T[r, c] = (I + s_nr) / (I + α·FP + β·FN + s_dr)
/// l[r]    = ((1 / |𝓘|) · Σ_{c ∈ 𝓘} w[c] · (1 − T[r, c]))^γ
/// ```
///
/// over the included classes `𝓘` (all but `ignore_index` and, with
/// `include_background = false`, channel 0); empty classes are treated as [`EmptyClass`]
/// says. `α = β = 0.5` is the Dice loss with `p = 1`, `α = β = 1` the Jaccard loss. The
/// exponent applies to the class mean, as smp's `TverskyLoss` (`loss.mean() ** gamma`). Where
/// the class mean is exactly `0` (a perfect fit) the loss is `0` with zero gradient for every
/// `γ`, also `γ < 1`, where the references give `NaN`. MONAI's `TverskyLoss` is `γ = 1`.
/// `Mean` averages `l` over the rows, `Sum` sums, `None` returns `[N]` (`[1]` with `batch`).
///
/// With `den = I + α·FP + β·FN + s_dr`, the gradient of one class term with respect to a
/// prediction is `∂(1 − T)/∂x_i = −(y_i − T·(α + (1 − α − β)·y_i)) / den`, then through the
/// activation and the outer power `γ·m^(γ−1)` of the class mean `m`.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::{Int, Tensor};
/// use burn_losses::TverskyLossConfig;
///
/// let device = Default::default();
/// let loss = TverskyLossConfig::new().with_beta(0.7).with_alpha(0.3).init::<NdArray>(&device);
/// let logits = Tensor::<NdArray, 4>::zeros([2, 3, 4, 4], &device); // [N, C, H, W]
/// let labels = Tensor::<NdArray, 3, Int>::zeros([2, 4, 4], &device); // [N, H, W]
/// let value: f32 = loss.forward_indices(logits, labels).into_scalar();
/// assert!(value > 0.0 && value < 1.0);
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct TverskyLoss<B: Backend> {
    /// False-positive weight `α`.
    pub alpha: f32,
    /// False-negative weight `β`.
    pub beta: f32,
    /// Exponent `γ` of the class mean.
    pub gamma: f32,
    /// Activation along axis 1.
    pub activation: Activation,
    /// Whether channel 0 counts.
    pub include_background: bool,
    /// The class channel left out, if any.
    pub ignore_index: Option<usize>,
    /// Whether the sums are pooled over the batch.
    pub batch: bool,
    /// Numerator smoothing.
    pub smooth_nr: f32,
    /// Denominator smoothing.
    pub smooth_dr: f32,
    /// Class weights `[C]`, if any.
    pub weight: Option<Tensor<B, 1>>,
    /// Empty-class policy.
    pub empty_class: EmptyClass,
    /// Reduction over samples.
    pub reduction: Reduction,
}

impl<B: Backend> ModuleDisplay for TverskyLoss<B> {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        one_line_display()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        content
            .add("alpha", &self.alpha)
            .add("beta", &self.beta)
            .add("gamma", &self.gamma)
            .add("activation", &format!("{:?}", self.activation))
            .add("include_background", &self.include_background)
            .add("ignore_index", &format!("{:?}", self.ignore_index))
            .add("batch", &self.batch)
            .add("smooth_nr", &self.smooth_nr)
            .add("smooth_dr", &self.smooth_dr)
            .add("weight", &self.weight)
            .add("empty_class", &format!("{:?}", self.empty_class))
            .add("reduction", &format!("{:?}", self.reduction))
            .optional()
    }
}

impl<B: Backend> TverskyLoss<B> {
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
    /// If the shapes differ, `weight` does not have `C` entries, `ignore_index >= C`, or one
    /// channel meets `Softmax` or `include_background = false`.
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
            self.weight.as_ref(),
            self.ignore_index,
            self.include_background,
            &overlap.device,
        );
        let ratio = Ratio::Tversky {
            alpha: self.alpha,
            beta: self.beta,
            smooth_nr: self.smooth_nr,
            smooth_dr: self.smooth_dr,
        };
        overlap.ratio_loss(
            ratio,
            &classes,
            self.empty_class,
            self.gamma,
            self.reduction,
        )
    }
}
