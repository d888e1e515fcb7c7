//! The loss choices of the command line, each one loss of `burn-losses` (the compound ones
//! are the library's [`DiceCeLoss`](burn_losses::DiceCeLoss) and
//! [`DiceFocalLoss`](burn_losses::DiceFocalLoss)).

use burn::prelude::*;
use burn_losses::{
    BceWithLogitsLossConfig, CrossEntropyLossConfig, DiceCeLossConfig, DiceFocalLossConfig,
    DiceLossConfig, FocalLossConfig, LovaszSoftmaxLossConfig, TverskyLossConfig, one_hot,
};
use serde::{Deserialize, Serialize};

use crate::data::IGNORE_INDEX;

/// The loss selected with `--loss`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Cross-entropy (class weights as `weight`).
    Ce,
    /// Softmax focal loss, γ = 2 (class weights as `alpha`).
    Focal,
    /// Multi-class soft Dice (class weights as per-class Dice weights).
    Dice,
    /// `CE + dice_weight · Dice` ([`burn_losses::DiceCeLoss`]).
    DiceCe,
    /// `Focal + dice_weight · Dice` ([`burn_losses::DiceFocalLoss`]).
    FocalDice,
    /// Binary cross-entropy with logits, one sigmoid per class against its one-hot mask
    /// (class weights as per-channel `weight`); for binary data sets (`--classes 2`) this is
    /// the usual foreground/background BCE.
    Bce,
    /// Tversky loss with α = 0.3, β = 0.7 (false negatives cost more: recall of rare classes).
    Tversky,
    /// Lovász-softmax loss over the classes present (no class weights).
    Lovasz,
}

impl LossKind {
    /// All choices, in command-line order.
    pub const ALL: [LossKind; 8] = [
        LossKind::Ce,
        LossKind::Focal,
        LossKind::Dice,
        LossKind::DiceCe,
        LossKind::FocalDice,
        LossKind::Bce,
        LossKind::Tversky,
        LossKind::Lovasz,
    ];

    /// The command-line spelling (`ce`, `focal`, `dice`, `dice-ce`, `focal-dice`, `bce`,
    /// `tversky`, `lovasz`).
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Ce => "ce",
            LossKind::Focal => "focal",
            LossKind::Dice => "dice",
            LossKind::DiceCe => "dice-ce",
            LossKind::FocalDice => "focal-dice",
            LossKind::Bce => "bce",
            LossKind::Tversky => "tversky",
            LossKind::Lovasz => "lovasz",
        }
    }
}

impl std::fmt::Display for LossKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything needed to build the training loss; serialisable as part of the run config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossSpec {
    /// Which loss.
    pub kind: LossKind,
    /// Number of classes `C`.
    pub num_classes: usize,
    /// Optional per-class weights (`C` entries).
    pub class_weights: Option<Vec<f32>>,
    /// Factor of the Dice term in `dice-ce` and `focal-dice`.
    pub dice_weight: f32,
    /// Focal γ.
    pub focal_gamma: f32,
}

impl LossSpec {
    /// A spec with Dice weight 1 and focal γ 2.
    pub fn new(kind: LossKind, num_classes: usize, class_weights: Option<Vec<f32>>) -> Self {
        Self {
            kind,
            num_classes,
            class_weights,
            dice_weight: 1.0,
            focal_gamma: 2.0,
        }
    }

    /// Checks the class weights against the number of classes.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(w) = &self.class_weights {
            if w.len() != self.num_classes {
                return Err(format!(
                    "--class-weights has {} values but --classes is {}",
                    w.len(),
                    self.num_classes
                ));
            }
            if w.iter().any(|v| !v.is_finite() || *v < 0.0) {
                return Err(format!(
                    "--class-weights must be finite and >= 0, got {w:?}"
                ));
            }
            if self.kind == LossKind::Lovasz {
                return Err("--class-weights has no effect with --loss lovasz".into());
            }
        }
        if !(self.dice_weight.is_finite() && self.dice_weight >= 0.0) {
            return Err(format!(
                "--dice-weight must be finite and >= 0, got {}",
                self.dice_weight
            ));
        }
        Ok(())
    }

    /// The loss of `logits` `[N, C, H, W]` against `targets` `[N, H, W]` (255 = ignored), as a
    /// `[1]` tensor. Target checks are off: the data loaders validate masks up front.
    pub fn forward<B: Backend>(
        &self,
        logits: Tensor<B, 4>,
        targets: Tensor<B, 3, Int>,
    ) -> Tensor<B, 1> {
        let device = logits.device();
        match self.kind {
            LossKind::Ce => self
                .cross_entropy()
                .init::<B>(&device)
                .forward(logits, targets),
            LossKind::Focal => self.focal().init::<B>(&device).forward(logits, targets),
            LossKind::Dice => self
                .dice()
                .init::<B>(&device)
                .forward_indices(logits, targets),
            LossKind::DiceCe => DiceCeLossConfig::new()
                .with_dice(self.dice())
                .with_cross_entropy(self.cross_entropy())
                .with_lambda_dice(self.dice_weight)
                .init::<B>(&device)
                .forward_indices(logits, targets),
            LossKind::FocalDice => DiceFocalLossConfig::new(self.focal())
                .with_dice(self.dice())
                .with_lambda_dice(self.dice_weight)
                .init::<B>(&device)
                .forward_indices(logits, targets),
            LossKind::Bce => {
                // One-hot masks, with every channel of an ignored pixel set to the ignore value.
                let dims = logits.dims();
                let ignored = targets
                    .clone()
                    .equal_elem(IGNORE_INDEX as i64)
                    .unsqueeze_dim::<4>(1)
                    .expand(dims);
                let masks: Tensor<B, 4> = one_hot(targets, self.num_classes);
                let masks = masks.mask_fill(ignored, f32::from(IGNORE_INDEX));
                BceWithLogitsLossConfig::new()
                    .with_weight(self.class_weights.clone())
                    .with_ignore_value(Some(f32::from(IGNORE_INDEX)))
                    .init::<B>(&device)
                    .forward(logits, masks)
            }
            LossKind::Tversky => TverskyLossConfig::new()
                .with_alpha(0.3)
                .with_beta(0.7)
                .with_weight(self.class_weights.clone())
                .init::<B>(&device)
                .forward_indices(logits, targets),
            LossKind::Lovasz => LovaszSoftmaxLossConfig::new()
                .with_ignore_index(IGNORE_INDEX as i64)
                .with_check_targets(false)
                .init::<B>(&device)
                .forward(logits, targets),
        }
    }

    fn cross_entropy(&self) -> CrossEntropyLossConfig {
        CrossEntropyLossConfig::new()
            .with_weight(self.class_weights.clone())
            .with_ignore_index(IGNORE_INDEX as i64)
            .with_check_targets(false)
    }

    fn focal(&self) -> FocalLossConfig {
        FocalLossConfig::new(self.num_classes)
            .with_alpha(self.class_weights.clone())
            .with_gamma(self.focal_gamma)
            .with_ignore_index(IGNORE_INDEX as i64)
            .with_check_targets(false)
    }

    fn dice(&self) -> DiceLossConfig {
        DiceLossConfig::new().with_weight(self.class_weights.clone())
    }
}
