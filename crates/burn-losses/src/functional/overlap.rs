//! Per-class overlap statistics of a prediction and a target — `I = Σ x·y`, `P = Σ x^p` and
//! `T = Σ y^p`, per sample and class or pooled over the batch — and the scores of the Dice
//! family (Dice, Jaccard, Tversky, generalized Dice) as small functions of them.
//!
//! This is the one place that passes over the pixels: [`Overlap::new`] takes the fused kernel
//! (`crate::fused`) where the backend has one, and [`Overlap::ratio_loss`] the fused score step
//! on its statistics (Dice, Jaccard, Tversky); the loss files only choose the score.

use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::{Int, Tensor, backend::Backend};

use super::math::{one_minus_ratio, pow_nonneg, safe_div};
use super::per_class::ClassSet;
use super::targets::one_hot_with_validity;
use crate::checks;
use crate::fused::{self, Score, ScoreSpec};
use crate::reduction::reduce_unweighted;
use crate::{Activation, EmptyClass, GeneralizedDiceWeight, Reduction};

/// Targets of an overlap loss: same shape as the input (rank `D`), or class indices of rank
/// `K = D − 1`; the generic path views them as `[N, C, S]` / `[N, S]` (the defaults).
pub(crate) enum OverlapTargets<B: Backend, const D: usize = 3, const K: usize = 2> {
    /// One-hot, multi-hot or soft targets.
    Dense(Tensor<B, D>),
    /// Class indices; pixels whose index is outside `[0, C)` leave every sum.
    Indices(Tensor<B, K, Int>),
}

/// The overlap statistics of a loss's input: as the fused kernel's `[N, 3, C]` tensor (read
/// as [`Sums`] only where a score has no fused step), or as the generic path's sums.
pub(crate) struct Overlap<B: Backend> {
    statistics: Statistics<B>,
    /// One row for the whole batch.
    batch: bool,
    /// The input's shape, for messages.
    pub dims: Vec<usize>,
    /// The input's device.
    pub device: B::Device,
}

enum Statistics<B: Backend> {
    /// `I`, `P`, `T` per sample, `[N, 3, C]`, not pooled.
    Fused(Tensor<B, 3>),
    /// Already pooled.
    Sums(Sums<B>),
}

/// The overlap statistics, each `[R, C]`: one row per sample (`R = N`), or one row for the
/// whole batch (`R = 1`, `batch = true`).
#[derive(Clone)]
pub(crate) struct Sums<B: Backend> {
    /// `I = Σ x·y`.
    pub intersection: Tensor<B, 2>,
    /// `P = Σ x^p`.
    pub prediction: Tensor<B, 2>,
    /// `T = Σ y^p`; `0` marks an empty class.
    pub target: Tensor<B, 2>,
}

/// The per-class score of a ratio-form Dice-family loss (see [`Sums::ratio_loss`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Ratio {
    /// Dice, or with `jaccard` MONAI's Jaccard form.
    Dice {
        smooth_nr: f32,
        smooth_dr: f32,
        jaccard: bool,
    },
    /// Tversky with false-positive weight `alpha` and false-negative weight `beta`.
    Tversky {
        alpha: f32,
        beta: f32,
        smooth_nr: f32,
        smooth_dr: f32,
    },
}

impl Ratio {
    /// `(a, [b, u, v], [s_nr, s_dr])` of `1 − (a·I + s_nr) / (b·I + u·P + v·T + s_dr)`.
    fn coefficients(self) -> (f32, [f32; 3], [f32; 2]) {
        match self {
            Self::Dice {
                smooth_nr,
                smooth_dr,
                jaccard: false,
            } => (2.0, [0.0, 1.0, 1.0], [smooth_nr, smooth_dr]),
            Self::Dice {
                smooth_nr,
                smooth_dr,
                jaccard: true,
            } => (2.0, [-2.0, 2.0, 2.0], [smooth_nr, smooth_dr]),
            Self::Tversky {
                alpha,
                beta,
                smooth_nr,
                smooth_dr,
            } => (
                1.0,
                [1.0 - alpha - beta, alpha, beta],
                [smooth_nr, smooth_dr],
            ),
        }
    }
}

impl<B: Backend> Overlap<B> {
    /// Statistics of `input` (`[N, C, d1, .., dk]`, `k >= 1`) against same-shape targets.
    ///
    /// # Panics
    ///
    /// Naming `loss`, if the shapes differ or the rank is below 3.
    pub fn dense<const D: usize>(
        loss: &str,
        input: Tensor<B, D>,
        targets: Tensor<B, D>,
        activation: Activation,
        p: f32,
        batch: bool,
    ) -> Self {
        let dims = input.dims();
        checks::same_shapes(loss, ["logits", "targets"], &dims, &targets.dims(), 3);
        let ncs = [dims[0], dims[1], dims[2..].iter().product()];
        let targets = OverlapTargets::<B, D, D>::Dense(targets);
        Self::new(input, targets, ncs, activation, p, batch, dims.to_vec())
    }

    /// Statistics of `input` (`[N, C, d1, .., dk]`, `k >= 1`) against class indices
    /// `[N, d1, .., dk]`.
    ///
    /// # Panics
    ///
    /// Naming `loss`, on a rank or shape mismatch.
    pub fn indices<const D: usize, const K: usize>(
        loss: &str,
        input: Tensor<B, D>,
        targets: Tensor<B, K, Int>,
        activation: Activation,
        p: f32,
        batch: bool,
    ) -> Self {
        let dims = input.dims();
        checks::class_index_shapes(loss, &dims, &targets.dims());
        assert!(
            D >= 3,
            "{loss}: logits must be [N, C, d1, ..., dk] with k >= 1, got {dims:?}"
        );
        let ncs = [dims[0], dims[1], dims[2..].iter().product()];
        let targets = OverlapTargets::<B, D, K>::Indices(targets);
        Self::new(input, targets, ncs, activation, p, batch, dims.to_vec())
    }

    /// The statistics of `input` read as `ncs = [N, C, S]` (the same elements in the same
    /// order) after `activation`, with power `p` on the prediction and target sums; `dims` is
    /// the shape messages name.
    pub fn new<const D: usize, const K: usize>(
        input: Tensor<B, D>,
        targets: OverlapTargets<B, D, K>,
        ncs: [usize; 3],
        activation: Activation,
        p: f32,
        batch: bool,
        dims: Vec<usize>,
    ) -> Self {
        let [n, _, s] = ncs;
        let device = input.device();
        let statistics = match fused::overlap_statistics(input, targets, ncs, activation, p) {
            Ok(stats) => Statistics::Fused(stats),
            Err((input, targets)) => {
                let targets = match targets {
                    OverlapTargets::Dense(y) => OverlapTargets::Dense(y.reshape(ncs)),
                    OverlapTargets::Indices(t) => OverlapTargets::Indices(t.reshape([n, s])),
                };
                Statistics::Sums(Sums::generic(
                    input.reshape(ncs),
                    targets,
                    activation,
                    p,
                    batch,
                ))
            }
        };
        Self {
            statistics,
            batch,
            dims,
            device,
        }
    }

    /// The statistics as `[R, C]` sums (slicing and pooling the fused kernel's).
    pub fn sums(&self) -> Sums<B> {
        match &self.statistics {
            Statistics::Sums(sums) => sums.clone(),
            Statistics::Fused(stats) => {
                let [n, _, c] = stats.dims();
                let take = |k: usize| {
                    let t = stats.clone().slice([0..n, k..k + 1, 0..c]).reshape([n, c]);
                    if self.batch { t.sum_dim(0) } else { t }
                };
                Sums {
                    intersection: take(0),
                    prediction: take(1),
                    target: take(2),
                }
            }
        }
    }

    /// A ratio-form loss (Dice, Jaccard, Tversky) reduced over the rows: per row the class
    /// mean of [`Sums::ratio_loss`] over `classes` (empty classes treated by `empty`), to the
    /// power `gamma` ([`pow_nonneg`]; `1` for none), then `reduction` over the rows.
    ///
    /// Statistics from the fused kernel take the fused step (`fused::overlap_score`) where
    /// the backend has one, the tensor operations below otherwise.
    pub fn ratio_loss(
        &self,
        ratio: Ratio,
        classes: &ClassSet<B>,
        empty: EmptyClass,
        gamma: f32,
        reduction: Reduction,
    ) -> Tensor<B, 1> {
        let (numerator, denominator, smooth) = ratio.coefficients();
        let score = Score::Ratio {
            numerator,
            denominator,
            empty,
            gamma,
        };
        if let Some(loss) = self.fused_score(score, smooth, classes, classes.weight(), reduction) {
            return loss;
        }
        let sums = self.sums();
        let losses = sums.ratio_loss(ratio);
        let rows = classes.mean(losses, sums.target, empty);
        reduce_unweighted(pow_nonneg(rows, gamma), reduction)
    }

    /// The generalized Dice loss ([`Sums::generalized_dice_loss`] over `classes`) reduced over
    /// the rows, on the fused step where the statistics and the backend allow.
    pub fn generalized_dice_loss(
        &self,
        weight_type: GeneralizedDiceWeight,
        classes: &ClassSet<B>,
        [smooth_nr, smooth_dr]: [f32; 2],
        reduction: Reduction,
    ) -> Tensor<B, 1> {
        let score = Score::Generalized(weight_type);
        let smooth = [smooth_nr, smooth_dr];
        if let Some(loss) = self.fused_score(score, smooth, classes, None, reduction) {
            return loss;
        }
        let rows = self.sums().generalized_dice_loss(
            weight_type,
            classes.included(),
            smooth_nr,
            smooth_dr,
        );
        reduce_unweighted(rows, reduction)
    }

    /// `score` on the fused step (`fused::overlap_score`), if the statistics came from the fused
    /// kernel and the backend has the step.
    fn fused_score(
        &self,
        score: Score,
        smooth: [f32; 2],
        classes: &ClassSet<B>,
        weight: Option<&Tensor<B, 1>>,
        reduction: Reduction,
    ) -> Option<Tensor<B, 1>> {
        let Statistics::Fused(stats) = &self.statistics else {
            return None;
        };
        let spec = ScoreSpec {
            score,
            smooth,
            included: classes.mask().to_vec(),
            batch: self.batch,
            reduction,
        };
        fused::overlap_score(stats.clone(), weight, &spec).ok()
    }
}

impl<B: Backend> Sums<B> {
    /// The tensor-op statistics of `[N, C, S]` inputs, pooled over the batch with `batch`.
    fn generic(
        input: Tensor<B, 3>,
        targets: OverlapTargets<B>,
        activation: Activation,
        p: f32,
        batch: bool,
    ) -> Self {
        let [n, num_classes, _] = input.dims();
        let x = activate(input, activation);
        let (x, y) = match targets {
            OverlapTargets::Dense(y) => (x, y),
            OverlapTargets::Indices(indices) => {
                let (y, valid) = one_hot_with_validity(indices, num_classes);
                (x * valid, y)
            }
        };
        let pool = |t: Tensor<B, 3>| -> Tensor<B, 2> {
            let t = t.sum_dim(2).reshape([n, num_classes]);
            if batch { t.sum_dim(0) } else { t }
        };
        Self {
            intersection: pool(x.clone() * y.clone()),
            prediction: pool(pow_nonneg(x, p)),
            target: pool(pow_nonneg(y, p)),
        }
    }

    /// The loss per row and class of `ratio`: Dice `1 − (2I + s_nr) / (P + T + s_dr)`;
    /// Jaccard `1 − (2I + s_nr) / (2(P + T − I) + s_dr)` (MONAI's form); Tversky
    /// `1 − (I + s_nr) / (I + α·FP + β·FN + s_dr)` with `FP = Σ x·(1 − y) = P − I` and
    /// `FN = Σ (1 − x)·y = T − I` (statistics taken with `p = 1`). A `0/0` scores `0`.
    pub fn ratio_loss(&self, ratio: Ratio) -> Tensor<B, 2> {
        let i = self.intersection.clone();
        let (numerator, denominator) = match ratio {
            Ratio::Dice {
                smooth_nr,
                smooth_dr,
                jaccard,
            } => {
                let cardinality = self.prediction.clone() + self.target.clone();
                let denominator = if jaccard {
                    (cardinality - i.clone()).mul_scalar(2.0)
                } else {
                    cardinality
                };
                (
                    i.mul_scalar(2.0).add_scalar(smooth_nr),
                    denominator.add_scalar(smooth_dr),
                )
            }
            Ratio::Tversky {
                alpha,
                beta,
                smooth_nr,
                smooth_dr,
            } => {
                let false_pos = self.prediction.clone() - i.clone();
                let false_neg = self.target.clone() - i.clone();
                let denominator =
                    i.clone() + false_pos.mul_scalar(alpha) + false_neg.mul_scalar(beta);
                (i.add_scalar(smooth_nr), denominator.add_scalar(smooth_dr))
            }
        };
        one_minus_ratio(numerator, denominator)
    }

    /// Generalized Dice loss per row (`[R]`) over the classes marked in `included` (`[1, C]`,
    /// 0/1), statistics taken with `p = 1`:
    /// `1 − (2·Σ_c w_c·I_c + s_nr) / (Σ_c w_c·(P_c + T_c) + s_dr)`.
    ///
    /// The weights come from the target sums and carry no gradient; an empty included class
    /// takes the row's largest finite weight (MONAI's rule; `0` if every class is empty).
    pub fn generalized_dice_loss(
        &self,
        weight_type: GeneralizedDiceWeight,
        included: Tensor<B, 2>,
        smooth_nr: f32,
        smooth_dr: f32,
    ) -> Tensor<B, 1> {
        let t = self.target.clone().detach();
        let weight = match weight_type {
            GeneralizedDiceWeight::Uniform => included.expand(t.shape()),
            GeneralizedDiceWeight::Square | GeneralizedDiceWeight::Simple => {
                let denominator = match weight_type {
                    GeneralizedDiceWeight::Square => t.clone() * t.clone(),
                    _ => t.clone(),
                };
                let empty = t.equal_elem(0.0).float() * included.clone();
                let finite = safe_div(included.expand(denominator.shape()), denominator);
                let largest = finite.clone().max_dim(1);
                finite + empty * largest
            }
        };
        let numerator = (weight.clone() * self.intersection.clone())
            .sum_dim(1)
            .mul_scalar(2.0)
            .add_scalar(smooth_nr);
        let cardinality = self.prediction.clone() + self.target.clone();
        let denominator = (weight * cardinality).sum_dim(1).add_scalar(smooth_dr);
        one_minus_ratio(numerator, denominator).flatten::<1>(0, 1)
    }
}

/// Applies `activation` along the class axis 1 of `[N, C, S]`.
pub(crate) fn activate<B: Backend>(x: Tensor<B, 3>, activation: Activation) -> Tensor<B, 3> {
    match activation {
        Activation::Softmax => softmax(x, 1),
        Activation::Sigmoid => sigmoid(x),
        Activation::None => x,
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;

    use super::*;

    type B = NdArray<f32>;

    fn values(t: Tensor<B, 2>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    /// Two samples, two classes, three pixels: the sums by hand, on the generic path and (with
    /// the `ndarray` feature) the fused kernel.
    #[test]
    fn statistics_per_sample_and_pooled() {
        let device = Default::default();
        let x = Tensor::<B, 3>::from_floats(
            [
                [[0.5, 1.0, 0.0], [0.5, 0.0, 1.0]],
                [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]],
            ],
            &device,
        );
        // Sample 0: classes [0, 1, 255]; sample 1: [1, 1, 0].
        let labels = Tensor::<B, 2, Int>::from_ints([[0, 1, 255], [1, 1, 0]], &device);
        let stats = |p: f32, batch: bool| {
            let targets = OverlapTargets::Indices(labels.clone());
            let dims = vec![2, 2, 3];
            Overlap::new(
                x.clone(),
                targets,
                [2, 2, 3],
                Activation::None,
                p,
                batch,
                dims,
            )
        };
        for fused in [false, true] {
            crate::fused::set_enabled(fused);
            let per_sample = stats(2.0, false).sums();
            // The 255 pixel leaves every sum: sample 0 sees pixels 0 and 1 only.
            assert_eq!(values(per_sample.intersection), [0.5, 0.0, 1.0, 0.0]);
            assert_eq!(values(per_sample.prediction), [1.25, 0.25, 3.0, 0.0]);
            assert_eq!(values(per_sample.target), [1.0, 1.0, 1.0, 2.0]);
            let pooled = stats(1.0, true).sums();
            assert_eq!(values(pooled.intersection), [1.5, 0.0]);
            assert_eq!(values(pooled.prediction), [4.5, 0.5]);
            assert_eq!(values(pooled.target), [2.0, 3.0]);
        }
        crate::fused::set_enabled(true);
    }

    #[test]
    fn scores_from_statistics() {
        let device = Default::default();
        let stats = |i: f32, p: f32, t: f32| Sums::<B> {
            intersection: Tensor::from_floats([[i]], &device),
            prediction: Tensor::from_floats([[p]], &device),
            target: Tensor::from_floats([[t]], &device),
        };
        let dice = |jaccard| Ratio::Dice {
            smooth_nr: 0.0,
            smooth_dr: 0.0,
            jaccard,
        };
        let tversky = |alpha, beta| Ratio::Tversky {
            alpha,
            beta,
            smooth_nr: 0.0,
            smooth_dr: 0.0,
        };
        let o = stats(2.0, 3.0, 4.0);
        // Dice 1 − 4/7, Jaccard 1 − 4/(2·5), Tversky(0.5, 0.5) = Dice with p = 1.
        assert!((values(o.ratio_loss(dice(false)))[0] - 3.0 / 7.0).abs() < 1e-6);
        assert!((values(o.ratio_loss(dice(true)))[0] - 0.6).abs() < 1e-6);
        assert!((values(o.ratio_loss(tversky(0.5, 0.5)))[0] - 3.0 / 7.0).abs() < 1e-6);
        // FP = 1, FN = 2: 1 − 2/(2 + 0.3 + 1.4).
        let t = values(o.ratio_loss(tversky(0.3, 0.7)))[0];
        assert!((t - (1.0 - 2.0 / 3.7)).abs() < 1e-6, "{t}");
        // 0/0 is a perfect score.
        assert_eq!(values(stats(0.0, 0.0, 0.0).ratio_loss(dice(false))), [0.0]);
        // The fused step's coefficients give the same denominators: b·I + u·P + v·T.
        for (ratio, expected) in [
            (dice(false), 7.0),
            (dice(true), 10.0),
            (tversky(0.3, 0.7), 3.7),
        ] {
            let (_, [b, u, v], _) = ratio.coefficients();
            assert!(
                (b * 2.0 + u * 3.0 + v * 4.0 - expected).abs() < 1e-6,
                "{ratio:?}"
            );
        }
    }
}
