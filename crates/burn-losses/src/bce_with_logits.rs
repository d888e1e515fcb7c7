use burn::config::Config;
use burn::module::{Content, DisplaySettings, Module, ModuleDisplay};
use burn::tensor::{Tensor, backend::Backend};

use crate::display::one_line_display;
use crate::functional::pointwise::sigmoid_losses;
use crate::fused::BinaryLossKind;
use crate::{LossConfigError, Reduction, checks};

const LOSS: &str = "BceWithLogitsLoss";

/// Configuration of a [`BceWithLogitsLoss`], with PyTorch's names and defaults.
///
/// ```
/// use burn_losses::BceWithLogitsLossConfig;
///
/// // Three channels (e.g. multi-label masks), the rare third one weighted up, 255 = unlabelled.
/// let config = BceWithLogitsLossConfig::new()
///     .with_pos_weight(Some(vec![1.0, 1.0, 5.0]))
///     .with_ignore_value(Some(255.0))
///     .with_label_smoothing(0.1);
/// assert!(config.validate().is_ok());
/// assert!(config.with_label_smoothing(1.5).validate().is_err());
/// ```
#[derive(Config, Debug)]
pub struct BceWithLogitsLossConfig {
    /// Weight `w[c] >= 0` of each channel of axis 1 (PyTorch `weight` shaped `[1, C, 1, ..]`);
    /// `None` weighs every element 1.
    pub weight: Option<Vec<f32>>,
    /// Weight `pw[c] >= 0` of the positive term of each channel of axis 1 (PyTorch
    /// `pos_weight` shaped `[C, 1, ..]`); `None` is `1`.
    pub pos_weight: Option<Vec<f32>>,
    /// Label smoothing `ε ∈ [0, 1]`: targets become `t·(1 − ε) + ε/2` (default `0`).
    #[config(default = 0.0)]
    pub label_smoothing: f32,
    /// Target value whose elements do not count (loss `0`, left out of the mean), e.g. `255`
    /// for unlabelled pixels of a mask; `None` (default) counts every element.
    pub ignore_value: Option<f32>,
    /// How per-element losses are combined (default mean over the elements that count).
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl BceWithLogitsLossConfig {
    /// Checks the hyperparameters: `weight` and `pos_weight` entries finite and `>= 0`,
    /// `label_smoothing` in `[0, 1]`, `ignore_value` finite. (Their length against the
    /// channels of axis 1 is checked by `forward`.)
    pub fn validate(&self) -> Result<(), LossConfigError> {
        checks::optional_per_class_values(LOSS, "weight", self.weight.as_deref())?;
        checks::optional_per_class_values(LOSS, "pos_weight", self.pos_weight.as_deref())?;
        checks::unit_interval(LOSS, "label_smoothing", self.label_smoothing)?;
        checks::optional_finite(LOSS, "ignore_value", self.ignore_value)
    }

    /// Creates the loss on `device`.
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) if the configuration is invalid.
    pub fn init<B: Backend>(&self, device: &B::Device) -> BceWithLogitsLoss<B> {
        if let Err(err) = self.validate() {
            panic!("{err}");
        }
        let tensor = |values: &Option<Vec<f32>>| {
            values
                .as_ref()
                .map(|v| Tensor::from_floats(v.as_slice(), device))
        };
        BceWithLogitsLoss {
            weight: tensor(&self.weight),
            pos_weight: tensor(&self.pos_weight),
            label_smoothing: self.label_smoothing,
            ignore_value: self.ignore_value,
            reduction: self.reduction,
        }
    }
}

/// Binary cross-entropy on logits with float (soft) targets, exactly PyTorch's
/// `binary_cross_entropy_with_logits`, plus smp's label smoothing and ignored targets.
///
/// With logits `x`, targets `t ∈ [0, 1]` of the same shape, `t' = t·(1 − ε) + ε/2` and the
/// channel `c` of each element on axis 1:
///
/// ```text
/// l = w[c] · [(1 − t')·x + (1 + (pw[c] − 1)·t')·softplus(−x)]
/// ```
///
/// and `0` for elements whose (unsmoothed) target equals `ignore_value`. `Mean` averages over
/// the elements that count (PyTorch's mean is over all elements; the weights do not enter the
/// denominator, as in PyTorch); a mean over no element is `0` with zero gradient. `Sum` sums,
/// `None` keeps every `l`.
///
/// The gradient is `∂l/∂x = w[c]·((1 + (pw[c] − 1)·t')·σ(x) − pw[c]·t')`. `softplus(−x)` is
/// `−log σ(x)`, finite in value and gradient for logits of ±1e4.
///
/// Burn's own `BinaryCrossEntropyLoss` takes integer 0/1 targets and has no `pos_weight`; this
/// one takes float masks, soft labels, per-channel weights and an ignore value.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::Tensor;
/// use burn_losses::BceWithLogitsLossConfig;
///
/// let device = Default::default();
/// let loss = BceWithLogitsLossConfig::new().init::<NdArray>(&device);
/// let logits = Tensor::<NdArray, 4>::zeros([2, 1, 4, 4], &device); // [N, 1, H, W]
/// let masks = Tensor::<NdArray, 4>::ones([2, 1, 4, 4], &device);
/// let value: f32 = loss.forward(logits, masks).into_scalar();
/// assert!((value - 2f32.ln()).abs() < 1e-6);
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct BceWithLogitsLoss<B: Backend> {
    /// Channel weights `[C]`, if any.
    pub weight: Option<Tensor<B, 1>>,
    /// Channel positive weights `[C]`, if any.
    pub pos_weight: Option<Tensor<B, 1>>,
    /// Label smoothing `ε`.
    pub label_smoothing: f32,
    /// Target value that does not count, if any.
    pub ignore_value: Option<f32>,
    /// Reduction over elements.
    pub reduction: Reduction,
}

impl<B: Backend> ModuleDisplay for BceWithLogitsLoss<B> {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        one_line_display()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        content
            .add("weight", &self.weight)
            .add("pos_weight", &self.pos_weight)
            .add("label_smoothing", &self.label_smoothing)
            .add("ignore_value", &format!("{:?}", self.ignore_value))
            .add("reduction", &format!("{:?}", self.reduction))
            .optional()
    }
}

impl<B: Backend> BceWithLogitsLoss<B> {
    /// Computes the loss, reduced as configured.
    ///
    /// # Shapes
    ///
    /// - `logits`: any shape `[N, ...]` (rank `>= 2`, channels on axis 1, when `weight` or
    ///   `pos_weight` is set)
    /// - `targets`: the same shape, values in `[0, 1]` (or `ignore_value`)
    /// - output: `[1]` for `Mean` and `Sum`; for `None`, every element's loss in row-major
    ///   order.
    ///
    /// # Panics
    ///
    /// If the shapes differ, or a per-channel option does not have one entry per channel of
    /// axis 1 (or the rank is 1).
    pub fn forward<const D: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, D>,
    ) -> Tensor<B, 1> {
        self.losses(logits, targets, self.reduction)
    }

    /// Computes the unreduced per-element losses, shaped like `logits` (PyTorch's
    /// `reduction='none'`), whatever `reduction` is configured.
    pub fn forward_no_reduction<const D: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, D>,
    ) -> Tensor<B, D> {
        let dims = logits.dims();
        self.losses(logits, targets, Reduction::None).reshape(dims)
    }

    /// The loss reduced as `reduction` (every element's loss for `None`, 0 where ignored),
    /// after the shape checks.
    fn losses<const D: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, D>,
        reduction: Reduction,
    ) -> Tensor<B, 1> {
        let dims = logits.dims();
        checks::same_shapes(LOSS, ["logits", "targets"], &dims, &targets.dims(), 1);
        for (name, values) in [("weight", &self.weight), ("pos_weight", &self.pos_weight)] {
            if let Some(values) = values {
                let [len] = values.dims();
                assert!(
                    D >= 2,
                    "{LOSS}: `{name}` needs channels on axis 1 (rank >= 2), got shape {dims:?}"
                );
                checks::class_count(LOSS, name, len, dims[1], &dims);
            }
        }
        let kind = BinaryLossKind::BceWithLogits {
            label_smoothing: self.label_smoothing,
            ignore_value: self.ignore_value,
        };
        let weights = (self.weight.as_ref(), self.pos_weight.as_ref());
        sigmoid_losses(logits, targets, weights, kind, reduction)
    }
}
