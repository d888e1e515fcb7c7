use burn::config::Config;
use burn::module::{Content, DisplaySettings, Module, ModuleDisplay};
use burn::tensor::{Int, Tensor, backend::Backend};

use crate::display::one_line_display;
use crate::functional::pointwise::softmax_losses;
use crate::fused::ClassLossKind;
use crate::{LossConfigError, Reduction, checks};

const LOSS: &str = "FocalLoss";

/// Configuration of a [`FocalLoss`] (softmax, multi-class).
///
/// ```
/// use burn_losses::FocalLossConfig;
///
/// let config = FocalLossConfig::new(3)
///     .with_alpha(Some(vec![0.25, 0.5, 1.0]))
///     .with_gamma(2.0);
/// assert!(config.validate().is_ok());
/// assert!(FocalLossConfig::new(3).with_alpha(Some(vec![1.0])).validate().is_err());
/// ```
#[derive(Config, Debug)]
pub struct FocalLossConfig {
    /// Number of classes `C`; the logits' axis 1 must have this size.
    pub num_classes: usize,
    /// Per-class weight `α[c] >= 0`, `C` entries; `None` weighs every class 1.
    pub alpha: Option<Vec<f32>>,
    /// Focusing parameter `γ >= 0` (default `2`); `γ = 0` without `alpha` is cross-entropy.
    #[config(default = 2.0)]
    pub gamma: f32,
    /// Target value whose elements do not count (default `-100`, as PyTorch's losses).
    #[config(default = -100)]
    pub ignore_index: i64,
    /// How per-element losses are combined (default mean over the elements that count).
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
    /// Check that every target is `ignore_index` or in `[0, C)` and panic otherwise (one host
    /// read per `forward`); with it off, out-of-range targets are treated as ignored.
    #[config(default = true)]
    pub check_targets: bool,
}

impl FocalLossConfig {
    /// Checks the hyperparameters: `num_classes >= 1`, `alpha` with `num_classes` finite
    /// entries `>= 0`, `gamma` finite and `>= 0`.
    pub fn validate(&self) -> Result<(), LossConfigError> {
        if self.num_classes == 0 {
            return Err(LossConfigError::InvalidValue {
                loss: LOSS,
                argument: "num_classes".into(),
                value: 0.0,
                requirement: ">= 1",
            });
        }
        if let Some(alpha) = &self.alpha {
            checks::per_class_len(LOSS, "alpha", self.num_classes, alpha.len())?;
            checks::per_class_values(LOSS, "alpha", alpha)?;
        }
        checks::finite_non_negative(LOSS, "gamma", self.gamma)
    }

    /// Creates the loss on `device`.
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) if the configuration is invalid.
    pub fn init<B: Backend>(&self, device: &B::Device) -> FocalLoss<B> {
        if let Err(err) = self.validate() {
            panic!("{err}");
        }
        FocalLoss {
            num_classes: self.num_classes,
            alpha: self
                .alpha
                .as_ref()
                .map(|a| Tensor::from_floats(a.as_slice(), device)),
            gamma: self.gamma,
            ignore_index: self.ignore_index,
            reduction: self.reduction,
            check_targets: self.check_targets,
        }
    }
}

/// Softmax focal loss (Lin et al., *Focal Loss for Dense Object Detection*, multi-class form).
///
/// With `log p = log_softmax(x)` over the class axis 1 and target `y`:
///
/// ```text
/// l = −α[y] · (1 − p[y])^γ · log p[y]
/// ```
///
/// and `0` for ignored elements. `Mean` is the plain mean over the elements that count (the
/// seed's `batch_loss.mean()`, not a weighted mean), `Sum` the sum, `None` keeps every `l`.
/// With `γ = 0` and no `alpha` it equals [`CrossEntropyLoss`](crate::CrossEntropyLoss).
///
/// The gradient is `∂l/∂x[c] = α[y]·(1−p_y)^γ·(p[c] − [c=y])
/// − α[y]·γ·(1−p_y)^(γ−1)·p_y·log p_y·([c=y] − p[c])`.
///
/// `log p` comes from `log_softmax`, never `log(softmax)`, so huge logits stay finite; the
/// factor `(1 − p)^γ` has a finite gradient also where `p[y]` rounds to `1` and for `0 < γ < 1`.
/// A mean over no element is `0` with zero gradient (not `NaN`).
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::{Int, Tensor};
/// use burn_losses::FocalLossConfig;
///
/// let device = Default::default();
/// let loss = FocalLossConfig::new(2).with_gamma(2.0).init::<NdArray>(&device);
/// let logits = Tensor::<NdArray, 2>::from_floats([[0.0, 0.0]], &device);
/// let targets = Tensor::<NdArray, 1, Int>::from_ints([1], &device);
/// // p = 0.5: l = (0.5)^2 · ln 2
/// let value: f32 = loss.forward(logits, targets).into_scalar();
/// assert!((value - 0.25 * 2f32.ln()).abs() < 1e-6);
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct FocalLoss<B: Backend> {
    /// Number of classes `C`.
    pub num_classes: usize,
    /// Per-class `α` `[C]`, if any.
    pub alpha: Option<Tensor<B, 1>>,
    /// Focusing parameter `γ`.
    pub gamma: f32,
    /// Target value that does not count.
    pub ignore_index: i64,
    /// Reduction over elements.
    pub reduction: Reduction,
    /// Whether `forward` checks the target range (one host read per call).
    pub check_targets: bool,
}

impl<B: Backend> ModuleDisplay for FocalLoss<B> {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        one_line_display()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        content
            .add("num_classes", &self.num_classes)
            .add("alpha", &self.alpha)
            .add("gamma", &self.gamma)
            .add("ignore_index", &self.ignore_index)
            .add("reduction", &format!("{:?}", self.reduction))
            .optional()
    }
}

impl<B: Backend> FocalLoss<B> {
    /// Computes the loss, reduced as configured.
    ///
    /// # Shapes
    ///
    /// - `logits`: `[N, C]` or `[N, C, d1, ..., dk]`
    /// - `targets`: `[N]` or `[N, d1, ..., dk]`, class indices
    /// - output: `[1]` for `Mean` and `Sum`; for `None`, the per-element losses in row-major
    ///   order (ignored elements `0`).
    ///
    /// # Panics
    ///
    /// On a rank or shape mismatch, `C != num_classes`, and (while `check_targets` is on) a
    /// target outside `[0, C)` that is not `ignore_index`.
    pub fn forward<const D: usize, const K: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, K, Int>,
    ) -> Tensor<B, 1> {
        self.losses(logits, targets, self.reduction)
    }

    /// Computes the unreduced per-element losses, shaped like `targets`.
    pub fn forward_no_reduction<const D: usize, const K: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, K, Int>,
    ) -> Tensor<B, K> {
        let shape = targets.shape();
        self.losses(logits, targets, Reduction::None).reshape(shape)
    }

    /// The loss reduced as `reduction` (the per-element losses for `None`).
    fn losses<const D: usize, const K: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, K, Int>,
        reduction: Reduction,
    ) -> Tensor<B, 1> {
        let num_classes = checks::class_index_shapes(LOSS, &logits.dims(), &targets.dims());
        checks::class_count(
            LOSS,
            "num_classes",
            self.num_classes,
            num_classes,
            &logits.dims(),
        );
        let kind = ClassLossKind::Focal { gamma: self.gamma };
        let options = (self.ignore_index, self.check_targets);
        softmax_losses(
            LOSS,
            logits,
            targets,
            self.alpha.as_ref(),
            options,
            kind,
            reduction,
        )
    }
}
