//! The five loss choices of the command line, built from `burn-losses`.
//!
//! Each [`LossKind`] is a list of weighted [`LossTerm`]s; [`LossSpec::forward`] evaluates the
//! terms and sums them, so there is one code path for all five choices.

use burn::prelude::*;
use burn_losses::{CrossEntropyLossConfig, DiceLossConfig, FocalLossConfig};
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
    /// `CE + dice_weight · Dice`.
    DiceCe,
    /// `Focal + dice_weight · Dice`.
    FocalDice,
}

impl LossKind {
    /// All choices, in command-line order.
    pub const ALL: [LossKind; 5] = [
        LossKind::Ce,
        LossKind::Focal,
        LossKind::Dice,
        LossKind::DiceCe,
        LossKind::FocalDice,
    ];

    /// The terms of this loss; a term's factor is multiplied by `dice_weight` when it is Dice
    /// in a combination.
    pub fn terms(self) -> &'static [LossTerm] {
        match self {
            LossKind::Ce => &[LossTerm::CrossEntropy],
            LossKind::Focal => &[LossTerm::Focal],
            LossKind::Dice => &[LossTerm::Dice],
            LossKind::DiceCe => &[LossTerm::CrossEntropy, LossTerm::Dice],
            LossKind::FocalDice => &[LossTerm::Focal, LossTerm::Dice],
        }
    }

    /// The command-line spelling (`ce`, `focal`, `dice`, `dice-ce`, `focal-dice`).
    pub fn name(self) -> &'static str {
        match self {
            LossKind::Ce => "ce",
            LossKind::Focal => "focal",
            LossKind::Dice => "dice",
            LossKind::DiceCe => "dice-ce",
            LossKind::FocalDice => "focal-dice",
        }
    }
}

impl std::fmt::Display for LossKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One ingredient of a [`LossKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossTerm {
    /// [`burn_losses::CrossEntropyLoss`].
    CrossEntropy,
    /// [`burn_losses::FocalLoss`].
    Focal,
    /// [`burn_losses::DiceLoss`] on class indices.
    Dice,
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
        let ignore = IGNORE_INDEX as i64;
        self.kind
            .terms()
            .iter()
            .map(|term| {
                let (logits, targets) = (logits.clone(), targets.clone());
                match term {
                    LossTerm::CrossEntropy => CrossEntropyLossConfig::new()
                        .with_weight(self.class_weights.clone())
                        .with_ignore_index(ignore)
                        .with_check_targets(false)
                        .init::<B>(&device)
                        .forward(logits, targets),
                    LossTerm::Focal => FocalLossConfig::new(self.num_classes)
                        .with_alpha(self.class_weights.clone())
                        .with_gamma(self.focal_gamma)
                        .with_ignore_index(ignore)
                        .with_check_targets(false)
                        .init::<B>(&device)
                        .forward(logits, targets),
                    LossTerm::Dice => {
                        let dice = DiceLossConfig::new()
                            .with_weight(self.class_weights.clone())
                            .init::<B>(&device)
                            .forward_indices(logits, targets);
                        if self.kind.terms().len() > 1 {
                            dice.mul_scalar(self.dice_weight)
                        } else {
                            dice
                        }
                    }
                }
            })
            .reduce(|a, b| a + b)
            .expect("every loss kind has at least one term")
    }
}
