//! Compound losses: weighted sums of two losses of this crate (the one file allowed to combine
//! losses).

use burn::config::Config;
use burn::module::{Content, DisplaySettings, Module, ModuleDisplay};
use burn::tensor::{Int, Tensor, backend::Backend};

use crate::display::one_line_display;
use crate::{
    CrossEntropyLoss, CrossEntropyLossConfig, DiceLoss, DiceLossConfig, FocalLoss, FocalLossConfig,
    LossConfigError, Reduction, checks,
};

/// Checks the parts of a compound loss: each part's own `validate`, a reduction to a scalar,
/// and the weights `λ` finite and `>= 0`.
fn validate_parts(
    loss: &'static str,
    parts: [(&'static str, Reduction, Result<(), LossConfigError>); 2],
    lambdas: [(&'static str, f32); 2],
) -> Result<(), LossConfigError> {
    for (argument, reduction, valid) in parts {
        valid?;
        if reduction == Reduction::None {
            return Err(LossConfigError::UnsupportedOption {
                loss,
                argument,
                value: "Reduction::None".into(),
                reason: "the parts of a compound loss are added as scalars: use Mean or Sum",
            });
        }
    }
    for (argument, lambda) in lambdas {
        checks::finite_non_negative(loss, argument, lambda)?;
    }
    Ok(())
}

/// Configuration of a [`DiceCeLoss`].
///
/// ```
/// use burn_losses::{CrossEntropyLossConfig, DiceCeLossConfig, DiceLossConfig, Reduction};
///
/// // nnU-Net's loss: batch Dice + cross-entropy, unlabelled pixels (255) ignored by both.
/// let config = DiceCeLossConfig::new()
///     .with_dice(DiceLossConfig::new().with_batch(true).with_smooth(1e-5))
///     .with_cross_entropy(CrossEntropyLossConfig::new().with_ignore_index(255));
/// assert!(config.validate().is_ok());
/// let bad = config.with_dice(DiceLossConfig::new().with_reduction(Reduction::None));
/// assert!(bad.validate().is_err());
/// ```
#[derive(Config, Debug)]
pub struct DiceCeLossConfig {
    /// The Dice part (default `DiceLossConfig::new()`); its reduction must not be `None`.
    #[config(default = "DiceLossConfig::new()")]
    pub dice: DiceLossConfig,
    /// The cross-entropy part (default `CrossEntropyLossConfig::new()`); its reduction must
    /// not be `None`.
    #[config(default = "CrossEntropyLossConfig::new()")]
    pub cross_entropy: CrossEntropyLossConfig,
    /// Weight `λ_dice >= 0` of the Dice part (default `1`).
    #[config(default = 1.0)]
    pub lambda_dice: f32,
    /// Weight `λ_ce >= 0` of the cross-entropy part (default `1`).
    #[config(default = 1.0)]
    pub lambda_ce: f32,
}

impl DiceCeLossConfig {
    /// Checks both parts' configs, that both reduce to a scalar, and `λ` finite and `>= 0`.
    pub fn validate(&self) -> Result<(), LossConfigError> {
        validate_parts(
            "DiceCeLoss",
            [
                ("dice.reduction", self.dice.reduction, self.dice.validate()),
                (
                    "cross_entropy.reduction",
                    self.cross_entropy.reduction,
                    self.cross_entropy.validate(),
                ),
            ],
            [
                ("lambda_dice", self.lambda_dice),
                ("lambda_ce", self.lambda_ce),
            ],
        )
    }

    /// Creates the loss on `device`.
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) if the configuration is invalid.
    pub fn init<B: Backend>(&self, device: &B::Device) -> DiceCeLoss<B> {
        if let Err(err) = self.validate() {
            panic!("{err}");
        }
        DiceCeLoss {
            dice: self.dice.init(device),
            cross_entropy: self.cross_entropy.init(device),
            lambda_dice: self.lambda_dice,
            lambda_ce: self.lambda_ce,
        }
    }
}

/// Dice + cross-entropy, the default segmentation loss of nnU-Net and MONAI's `DiceCELoss`:
///
/// ```text
/// L = λ_dice · Dice + λ_ce · CE
/// ```
///
/// with [`DiceLoss`] and [`CrossEntropyLoss`] configured independently. On class indices
/// (`forward_indices`) the cross-entropy is the weighted-mean `forward`; on one-hot or soft
/// targets (`forward`) it is `forward_probs`, whose mean divides by the element count — the
/// same split as MONAI's `DiceCELoss`, whose `nn.CrossEntropyLoss` also sees index targets with
/// `to_onehot_y=True` and float targets otherwise.
///
/// Pixels whose index is outside `[0, C)` leave the Dice sums by themselves; setting
/// `cross_entropy.ignore_index` to the same value (e.g. `255`) makes such a pixel count nowhere,
/// as in nnU-Net (MONAI's `DiceCELoss` cannot ignore pixels). MONAI passes one `weight` to both
/// parts (and `weight[1:]` to the Dice with `include_background=False`); here each part has
/// its own `weight`, with `C` entries each.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::{Int, Tensor};
/// use burn_losses::{CrossEntropyLossConfig, DiceCeLossConfig};
///
/// let device = Default::default();
/// let loss = DiceCeLossConfig::new()
///     .with_cross_entropy(CrossEntropyLossConfig::new().with_ignore_index(255))
///     .with_lambda_ce(0.5)
///     .init::<NdArray>(&device);
/// let logits = Tensor::<NdArray, 4>::zeros([2, 3, 4, 4], &device);
/// let labels = Tensor::<NdArray, 3, Int>::ones([2, 4, 4], &device);
/// let value: f32 = loss.forward_indices(logits, labels).into_scalar();
/// assert!(value > 0.0);
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct DiceCeLoss<B: Backend> {
    /// The Dice part.
    pub dice: DiceLoss<B>,
    /// The cross-entropy part.
    pub cross_entropy: CrossEntropyLoss<B>,
    /// Weight of the Dice part.
    pub lambda_dice: f32,
    /// Weight of the cross-entropy part.
    pub lambda_ce: f32,
}

impl<B: Backend> ModuleDisplay for DiceCeLoss<B> {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        one_line_display()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        content
            .add("lambda_dice", &self.lambda_dice)
            .add("lambda_ce", &self.lambda_ce)
            .add("dice", &self.dice)
            .add("cross_entropy", &self.cross_entropy)
            .optional()
    }
}

impl<B: Backend> DiceCeLoss<B> {
    /// `λ_dice · Dice.forward_indices + λ_ce · CE.forward` on class indices.
    ///
    /// # Shapes
    ///
    /// - `logits`: `[N, C, d1, ..., dk]` (`k >= 1`)
    /// - `targets`: `[N, d1, ..., dk]`, class indices
    /// - output: `[1]`
    ///
    /// # Panics
    ///
    /// As the parts' `forward_indices` and `forward`.
    pub fn forward_indices<const D: usize, const K: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, K, Int>,
    ) -> Tensor<B, 1> {
        let dice = self.dice.forward_indices(logits.clone(), targets.clone());
        let ce = self.cross_entropy.forward(logits, targets);
        dice.mul_scalar(self.lambda_dice) + ce.mul_scalar(self.lambda_ce)
    }

    /// `λ_dice · Dice.forward + λ_ce · CE.forward_probs` on one-hot or soft targets of the
    /// logits' shape.
    ///
    /// # Shapes
    ///
    /// - `logits`: `[N, C, d1, ..., dk]` (`k >= 1`)
    /// - `targets`: the same shape
    /// - output: `[1]`
    ///
    /// # Panics
    ///
    /// As the parts' `forward` and `forward_probs`.
    pub fn forward<const D: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, D>,
    ) -> Tensor<B, 1> {
        let dice = self.dice.forward(logits.clone(), targets.clone());
        let ce = self.cross_entropy.forward_probs(logits, targets);
        dice.mul_scalar(self.lambda_dice) + ce.mul_scalar(self.lambda_ce)
    }
}

/// Configuration of a [`DiceFocalLoss`].
///
/// ```
/// use burn_losses::{DiceFocalLossConfig, FocalLossConfig};
///
/// let config = DiceFocalLossConfig::new(FocalLossConfig::new(3).with_gamma(2.0))
///     .with_lambda_focal(2.0);
/// assert!(config.validate().is_ok());
/// assert!(config.with_lambda_dice(f32::NAN).validate().is_err());
/// ```
#[derive(Config, Debug)]
pub struct DiceFocalLossConfig {
    /// The softmax focal part; its reduction must not be `None`.
    pub focal: FocalLossConfig,
    /// The Dice part (default `DiceLossConfig::new()`); its reduction must not be `None`.
    #[config(default = "DiceLossConfig::new()")]
    pub dice: DiceLossConfig,
    /// Weight `λ_dice >= 0` of the Dice part (default `1`).
    #[config(default = 1.0)]
    pub lambda_dice: f32,
    /// Weight `λ_focal >= 0` of the focal part (default `1`).
    #[config(default = 1.0)]
    pub lambda_focal: f32,
}

impl DiceFocalLossConfig {
    /// Checks both parts' configs, that both reduce to a scalar, and `λ` finite and `>= 0`.
    pub fn validate(&self) -> Result<(), LossConfigError> {
        validate_parts(
            "DiceFocalLoss",
            [
                ("dice.reduction", self.dice.reduction, self.dice.validate()),
                (
                    "focal.reduction",
                    self.focal.reduction,
                    self.focal.validate(),
                ),
            ],
            [
                ("lambda_dice", self.lambda_dice),
                ("lambda_focal", self.lambda_focal),
            ],
        )
    }

    /// Creates the loss on `device`.
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) if the configuration is invalid.
    pub fn init<B: Backend>(&self, device: &B::Device) -> DiceFocalLoss<B> {
        if let Err(err) = self.validate() {
            panic!("{err}");
        }
        DiceFocalLoss {
            dice: self.dice.init(device),
            focal: self.focal.init(device),
            lambda_dice: self.lambda_dice,
            lambda_focal: self.lambda_focal,
        }
    }
}

/// Dice + softmax focal loss:
///
/// ```text
/// L = λ_dice · Dice + λ_focal · Focal
/// ```
///
/// with [`DiceLoss`] and the softmax [`FocalLoss`] configured independently. MONAI's
/// `DiceFocalLoss` uses a per-channel *sigmoid* focal term instead; ours is the multi-class
/// softmax focal loss of this crate (for a sigmoid focal term, add a
/// [`BinaryFocalLoss`](crate::BinaryFocalLoss) yourself).
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::{Int, Tensor};
/// use burn_losses::{DiceFocalLossConfig, FocalLossConfig};
///
/// let device = Default::default();
/// let loss = DiceFocalLossConfig::new(FocalLossConfig::new(3).with_ignore_index(255))
///     .init::<NdArray>(&device);
/// let logits = Tensor::<NdArray, 4>::zeros([2, 3, 4, 4], &device);
/// let labels = Tensor::<NdArray, 3, Int>::ones([2, 4, 4], &device);
/// let value: f32 = loss.forward_indices(logits, labels).into_scalar();
/// assert!(value > 0.0);
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct DiceFocalLoss<B: Backend> {
    /// The Dice part.
    pub dice: DiceLoss<B>,
    /// The focal part.
    pub focal: FocalLoss<B>,
    /// Weight of the Dice part.
    pub lambda_dice: f32,
    /// Weight of the focal part.
    pub lambda_focal: f32,
}

impl<B: Backend> ModuleDisplay for DiceFocalLoss<B> {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        one_line_display()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        content
            .add("lambda_dice", &self.lambda_dice)
            .add("lambda_focal", &self.lambda_focal)
            .add("dice", &self.dice)
            .add("focal", &self.focal)
            .optional()
    }
}

impl<B: Backend> DiceFocalLoss<B> {
    /// `λ_dice · Dice.forward_indices + λ_focal · Focal.forward` on class indices.
    ///
    /// # Shapes
    ///
    /// - `logits`: `[N, C, d1, ..., dk]` (`k >= 1`)
    /// - `targets`: `[N, d1, ..., dk]`, class indices
    /// - output: `[1]`
    ///
    /// # Panics
    ///
    /// As the parts' `forward_indices` and `forward`.
    pub fn forward_indices<const D: usize, const K: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, K, Int>,
    ) -> Tensor<B, 1> {
        let dice = self.dice.forward_indices(logits.clone(), targets.clone());
        let focal = self.focal.forward(logits, targets);
        dice.mul_scalar(self.lambda_dice) + focal.mul_scalar(self.lambda_focal)
    }
}
