use burn::config::Config;
use burn::module::{Content, DisplaySettings, Module, ModuleDisplay};
use burn::tensor::{Tensor, backend::Backend};

use crate::display::one_line_display;
use crate::functional::overlap::{Overlap, OverlapTargets, Ratio};
use crate::functional::per_class::ClassSet;
use crate::{Activation, EmptyClass, LossConfigError, Reduction, checks};

const LOSS: &str = "BinaryDiceLoss";

/// Configuration of a [`BinaryDiceLoss`].
///
/// ```
/// use burn_losses::{Activation, BinaryDiceLossConfig};
///
/// let config = BinaryDiceLossConfig::new().with_smooth(1e-5).with_p(1.0);
/// assert!(config.validate().is_ok());
/// assert!(config.clone().with_p(0.0).validate().is_err());
/// // A softmax over a single channel is constant: a config error.
/// assert!(config.with_activation(Activation::Softmax).validate().is_err());
/// ```
#[derive(Config, Debug)]
pub struct BinaryDiceLossConfig {
    /// Smoothing `s >= 0` of numerator and denominator, unless `smooth_nr` / `smooth_dr` are
    /// set (default `1`).
    #[config(default = 1.0)]
    pub smooth: f32,
    /// Power `p > 0` of the denominator sums `Σ x^p + Σ y^p` (default `2`).
    #[config(default = 2.0)]
    pub p: f32,
    /// How per-sample losses are combined (default mean over the batch).
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
    /// `None` (default): the input holds probabilities; `Sigmoid`: it holds logits.
    /// `Softmax` is a config error.
    #[config(default = "Activation::None")]
    pub activation: Activation,
    /// Pool the sums over the whole batch: one score (default `false`).
    #[config(default = false)]
    pub batch: bool,
    /// Score the Jaccard index `(2I + s_nr) / (2(P + T − I) + s_dr)` (default `false`).
    #[config(default = false)]
    pub jaccard: bool,
    /// Numerator smoothing `>= 0`; `None` uses `smooth`.
    pub smooth_nr: Option<f32>,
    /// Denominator smoothing `>= 0`; `None` uses `smooth`.
    pub smooth_dr: Option<f32>,
    /// What a sample (or, with `batch`, a batch) whose target sum is `0` does (default `Keep`).
    #[config(default = "EmptyClass::Keep")]
    pub empty_class: EmptyClass,
}

impl BinaryDiceLossConfig {
    /// Checks the hyperparameters: `smooth`, `smooth_nr`, `smooth_dr` finite and `>= 0`, `p`
    /// finite and `> 0`, `activation` not `Softmax`.
    pub fn validate(&self) -> Result<(), LossConfigError> {
        checks::overlap_smoothing(LOSS, self.smooth, self.smooth_nr, self.smooth_dr)?;
        checks::scalar(
            LOSS,
            "p",
            self.p,
            self.p > 0.0 && self.p.is_finite(),
            "finite and > 0",
        )?;
        if self.activation == Activation::Softmax {
            return Err(LossConfigError::UnsupportedOption {
                loss: LOSS,
                argument: "activation",
                value: "Softmax".into(),
                reason: "a softmax over the single channel of a binary loss is constant 1; \
                         use Sigmoid for logits or None for probabilities",
            });
        }
        Ok(())
    }

    /// Creates the loss (it holds no tensors; `device` is taken for symmetry with the others).
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) if the configuration is invalid.
    pub fn init<B: Backend>(&self, _device: &B::Device) -> BinaryDiceLoss<B> {
        if let Err(err) = self.validate() {
            panic!("{err}");
        }
        BinaryDiceLoss {
            smooth: self.smooth,
            p: self.p,
            reduction: self.reduction,
            activation: self.activation,
            batch: self.batch,
            jaccard: self.jaccard,
            smooth_nr: self.smooth_nr.unwrap_or(self.smooth),
            smooth_dr: self.smooth_dr.unwrap_or(self.smooth),
            empty_class: self.empty_class,
            _backend: core::marker::PhantomData,
        }
    }
}

/// Binary Dice (or Jaccard) loss, one value per sample (or one for the batch).
///
/// For sample `n`, with `x = act(input)` its predictions and `y` its targets (both flattened
/// over every non-batch axis), `I = Σ x·y`, `P = Σ x^p`, `T = Σ y^p`:
///
/// ```text
/// l[n] = 1 − (2·I + s_nr) / (P + T + s_dr)             (Dice)
/// l[n] = 1 − (2·I + s_nr) / (2·(P + T − I) + s_dr)     (jaccard = true)
/// ```
///
/// With `batch`, the sums run over the whole batch and there is one `l`. This is MONAI's
/// `DiceLoss` on one channel (`squared_pred=True` for `p = 2`, `sigmoid=True` for
/// `Activation::Sigmoid`); smp's `DiceLoss("binary")` is `batch`, `p = 1`,
/// `EmptyClass::Zero`. An empty target (`T = 0`) is scored as [`EmptyClass`] says (`Exclude`
/// and `Zero` both give `0` here). The seed write-up omitted the factor `2`, which makes a
/// perfect prediction score `0.5`; we use the standard Dice. Where the denominator is `0`
/// (`s_dr = 0`, an empty mask predicted empty) the loss is `0`, not `NaN`. `Mean` averages
/// over the batch, `Sum` sums, `None` returns `[N]` (`[1]` with `batch`).
///
/// The gradient is `∂l/∂x_i = −2·y_i/den + num·p·x_i^(p−1)/den²` (Dice).
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::Tensor;
/// use burn_losses::BinaryDiceLossConfig;
///
/// let device = Default::default();
/// let loss = BinaryDiceLossConfig::new().with_smooth(0.0).init::<NdArray>(&device);
/// let mask = Tensor::<NdArray, 3>::from_floats([[[1.0, 0.0], [1.0, 1.0]]], &device);
/// let value: f32 = loss.forward(mask.clone(), mask).into_scalar();
/// assert!(value.abs() < 1e-6); // a perfect prediction
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct BinaryDiceLoss<B: Backend> {
    /// Smoothing `s` as configured (`smooth_nr` and `smooth_dr` hold the terms in use).
    pub smooth: f32,
    /// Denominator power `p`.
    pub p: f32,
    /// Reduction over samples.
    pub reduction: Reduction,
    /// Activation of the input.
    pub activation: Activation,
    /// Whether the sums are pooled over the batch.
    pub batch: bool,
    /// Whether the Jaccard index is scored.
    pub jaccard: bool,
    /// Numerator smoothing in use.
    pub smooth_nr: f32,
    /// Denominator smoothing in use.
    pub smooth_dr: f32,
    /// Empty-target policy.
    pub empty_class: EmptyClass,
    _backend: core::marker::PhantomData<B>,
}

impl<B: Backend> ModuleDisplay for BinaryDiceLoss<B> {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        one_line_display()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        content
            .add("smooth", &self.smooth)
            .add("p", &self.p)
            .add("reduction", &format!("{:?}", self.reduction))
            .add("activation", &format!("{:?}", self.activation))
            .add("batch", &self.batch)
            .add("jaccard", &self.jaccard)
            .add("smooth_nr", &self.smooth_nr)
            .add("smooth_dr", &self.smooth_dr)
            .add("empty_class", &format!("{:?}", self.empty_class))
            .optional()
    }
}

impl<B: Backend> BinaryDiceLoss<B> {
    /// Computes the loss, reduced as configured.
    ///
    /// # Shapes
    ///
    /// - `probs`: `[N, d1, ..., dk]` (`k >= 1`), probabilities in `[0, 1]` (logits with
    ///   `Activation::Sigmoid`)
    /// - `targets`: the same shape, values in `[0, 1]`
    /// - output: `[1]` for `Mean` and `Sum`, `[N]` for `None` (`[1]` with `batch`).
    ///
    /// # Panics
    ///
    /// If the shapes differ or the rank is below 2.
    pub fn forward<const D: usize>(
        &self,
        probs: Tensor<B, D>,
        targets: Tensor<B, D>,
    ) -> Tensor<B, 1> {
        let dims = probs.dims();
        checks::same_shapes(LOSS, ["probs", "targets"], &dims, &targets.dims(), 2);
        let ncs = [dims[0], 1, dims[1..].iter().product()];
        let overlap = Overlap::new(
            probs,
            OverlapTargets::<B, D, D>::Dense(targets),
            ncs,
            self.activation,
            self.p,
            self.batch,
            vec![dims[0], 1],
        );
        let classes = ClassSet::new(
            LOSS,
            &overlap.dims,
            self.activation,
            None,
            None,
            true,
            &overlap.device,
        );
        let ratio = Ratio::Dice {
            smooth_nr: self.smooth_nr,
            smooth_dr: self.smooth_dr,
            jaccard: self.jaccard,
        };
        overlap.ratio_loss(ratio, &classes, self.empty_class, 1.0, self.reduction)
    }
}
