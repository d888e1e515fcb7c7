use burn::config::Config;
use burn::module::{Content, DisplaySettings, Module, ModuleDisplay};
use burn::tensor::{Tensor, backend::Backend};

use crate::display::one_line_display;
use crate::functional::pointwise::sigmoid_losses;
use crate::fused::BinaryLossKind;
use crate::{LossConfigError, Reduction, checks};

const LOSS: &str = "BinaryFocalLoss";

/// Configuration of a [`BinaryFocalLoss`], with torchvision's defaults.
///
/// ```
/// use burn_losses::BinaryFocalLossConfig;
///
/// let config = BinaryFocalLossConfig::new();
/// assert_eq!(config.alpha, Some(0.25));
/// assert_eq!(config.gamma, 2.0);
/// assert!(config.with_alpha(Some(1.5)).validate().is_err());
/// ```
#[derive(Config, Debug)]
pub struct BinaryFocalLossConfig {
    /// Weight `α ∈ [0, 1]` of the positive class (negatives get `1 − α`); `None` disables the
    /// weighting (torchvision's `alpha < 0`). Default `Some(0.25)`.
    #[config(default = "Some(0.25)")]
    pub alpha: Option<f32>,
    /// Focusing parameter `γ >= 0` (default `2`).
    #[config(default = 2.0)]
    pub gamma: f32,
    /// How per-element losses are combined (default mean over all elements).
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl BinaryFocalLossConfig {
    /// Checks the hyperparameters: `alpha` in `[0, 1]`, `gamma` finite and `>= 0`.
    pub fn validate(&self) -> Result<(), LossConfigError> {
        if let Some(alpha) = self.alpha {
            checks::scalar(
                LOSS,
                "alpha",
                alpha,
                (0.0..=1.0).contains(&alpha),
                "in [0, 1]",
            )?;
        }
        checks::finite_non_negative(LOSS, "gamma", self.gamma)
    }

    /// Creates the loss (it holds no tensors; `device` is taken for symmetry with the others).
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) if the configuration is invalid.
    pub fn init<B: Backend>(&self, _device: &B::Device) -> BinaryFocalLoss<B> {
        if let Err(err) = self.validate() {
            panic!("{err}");
        }
        BinaryFocalLoss {
            alpha: self.alpha,
            gamma: self.gamma,
            reduction: self.reduction,
            _backend: core::marker::PhantomData,
        }
    }
}

/// Sigmoid focal loss on logits, exactly torchvision's `sigmoid_focal_loss`.
///
/// With `p = σ(x)`, a target `t ∈ [0, 1]` of the same shape, `p_t = p·t + (1 − p)·(1 − t)` and
/// `α_t = α·t + (1 − α)·(1 − t)`:
///
/// ```text
/// bce = (1 − t)·x − log σ(x)             (binary cross-entropy with logits)
/// l   = α_t · (1 − p_t)^γ · bce
/// ```
///
/// `bce` is computed from `log σ(x)`, never `log(σ(x))`, so logits up to `|x| = 1e4` give
/// finite values and gradients; `(1 − p_t)^γ` keeps a finite gradient where it reaches 0.
/// `Mean` averages over every element, `Sum` sums, `None` keeps every `l`.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::Tensor;
/// use burn_losses::BinaryFocalLossConfig;
///
/// let device = Default::default();
/// let loss = BinaryFocalLossConfig::new().with_alpha(None).init::<NdArray>(&device);
/// let logits = Tensor::<NdArray, 2>::zeros([1, 1], &device);
/// let targets = Tensor::<NdArray, 2>::ones([1, 1], &device);
/// // p_t = 0.5: l = 0.5^2 · ln 2
/// let value: f32 = loss.forward(logits, targets).into_scalar();
/// assert!((value - 0.25 * 2f32.ln()).abs() < 1e-6);
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct BinaryFocalLoss<B: Backend> {
    /// Positive-class weight `α`, if any.
    pub alpha: Option<f32>,
    /// Focusing parameter `γ`.
    pub gamma: f32,
    /// Reduction over elements.
    pub reduction: Reduction,
    _backend: core::marker::PhantomData<B>,
}

impl<B: Backend> ModuleDisplay for BinaryFocalLoss<B> {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        one_line_display()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        content
            .add("alpha", &format!("{:?}", self.alpha))
            .add("gamma", &self.gamma)
            .add("reduction", &format!("{:?}", self.reduction))
            .optional()
    }
}

impl<B: Backend> BinaryFocalLoss<B> {
    /// Computes the loss, reduced as configured.
    ///
    /// # Shapes
    ///
    /// - `logits`: any shape `[N, ...]`
    /// - `targets`: the same shape, values in `[0, 1]`
    /// - output: `[1]` for `Mean` and `Sum`; for `None`, every element's loss in row-major order.
    ///
    /// # Panics
    ///
    /// If the shapes differ.
    pub fn forward<const D: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, D>,
    ) -> Tensor<B, 1> {
        self.losses(logits, targets, self.reduction)
    }

    /// Computes the unreduced per-element losses, shaped like `logits`.
    pub fn forward_no_reduction<const D: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, D>,
    ) -> Tensor<B, D> {
        let dims = logits.dims();
        self.losses(logits, targets, Reduction::None).reshape(dims)
    }

    /// The loss reduced as `reduction` (every element's loss for `None`), after the shape
    /// check.
    fn losses<const D: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, D>,
        reduction: Reduction,
    ) -> Tensor<B, 1> {
        checks::same_shapes(
            LOSS,
            ["logits", "targets"],
            &logits.dims(),
            &targets.dims(),
            1,
        );
        let kind = BinaryLossKind::Focal {
            alpha: self.alpha,
            gamma: self.gamma,
        };
        sigmoid_losses(logits, targets, (None, None), kind, reduction)
    }
}
