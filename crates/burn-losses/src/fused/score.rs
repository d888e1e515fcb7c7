//! The Dice-family loss from the overlap statistics on host memory: the few operations on
//! `[N, 3, C]` sums that follow the pixel pass (ratio per class, class mean, power, reduction),
//! in one loop that also writes `∂L/∂(I, P, T)` for an upstream gradient of `1`.
//!
//! The generic path computes the same with ~15 tensor operations (and as many backward nodes)
//! on tensors of a few dozen elements; see [`Score`] for the formulas.

use super::fast_math::Power;
use super::{Score, ScoreSpec};
use crate::{EmptyClass, GeneralizedDiceWeight, Reduction};

/// Ratio-score class `[i, p, t]`'s loss `l` and `∂l/∂(I, P, T)`, `0` where the denominator is
/// `0` (`a`, `[b, u, v]` and the smoothing of [`Score::Ratio`]).
fn class_loss(
    numerator: f32,
    [b, u, v]: [f32; 3],
    [smooth_nr, smooth_dr]: [f32; 2],
    [i, p, t]: [f32; 3],
) -> (f32, [f32; 3]) {
    let top = numerator * i + smooth_nr;
    let bottom = b * i + u * p + v * t + smooth_dr;
    if bottom == 0.0 {
        return (0.0, [0.0; 3]);
    }
    let ratio = top / bottom;
    let slope = |coefficient: f32| ratio * coefficient / bottom;
    (
        1.0 - ratio,
        [slope(b) - numerator / bottom, slope(u), slope(v)],
    )
}

/// The weight of a class with target sum `t` in a ratio score's class mean (`weight` times
/// inclusion, `0` for an empty class under `Zero` and `Exclude`), and its count in an
/// `Exclude` mean's denominator.
fn class_weight(empty: EmptyClass, weight: f32, included: f32, t: f32) -> (f32, f32) {
    let w = weight * included;
    match empty {
        EmptyClass::Keep => (w, included),
        EmptyClass::Zero if t == 0.0 => (0.0, included),
        EmptyClass::Zero => (w, included),
        EmptyClass::Exclude if t > 0.0 => (w, included),
        EmptyClass::Exclude => (0.0, 0.0),
    }
}

/// The generalized Dice weights `w_c` of a row with target sums `t` (MONAI's rule: an empty
/// included class takes the largest finite weight of the row).
fn generalized_weights(weight: GeneralizedDiceWeight, included: &[f32], t: &[f32]) -> Vec<f32> {
    let finite: Vec<f32> = (included.iter().zip(t))
        .map(|(&on, &t)| {
            let denominator = match weight {
                GeneralizedDiceWeight::Uniform => 1.0,
                GeneralizedDiceWeight::Simple => t,
                GeneralizedDiceWeight::Square => t * t,
            };
            if denominator == 0.0 {
                0.0
            } else {
                on / denominator
            }
        })
        .collect();
    let largest = finite.iter().copied().fold(0.0f32, f32::max);
    (finite.iter().zip(included).zip(t))
        .map(|((&w, &on), &t)| match weight {
            GeneralizedDiceWeight::Uniform => on,
            _ if t == 0.0 => w + on * largest,
            _ => w,
        })
        .collect()
}

/// One row's loss and `∂loss/∂(I_c, P_c, T_c)` per class, from its sums `[I, P, T]` per class.
fn row(spec: &ScoreSpec, weight: &[f32], sums: &[[f32; 3]]) -> (f32, Vec<[f32; 3]>) {
    match spec.score {
        Score::Ratio {
            numerator,
            denominator,
            empty,
            gamma,
        } => {
            let classes: Vec<_> = (sums.iter().enumerate())
                .map(|(k, &s)| {
                    let (l, slope) = class_loss(numerator, denominator, spec.smooth, s);
                    let (w, counted) = class_weight(empty, weight[k], spec.included[k], s[2]);
                    (l, slope, w, counted)
                })
                .collect();
            let (total, counted) = (classes.iter())
                .fold((0.0f32, 0.0f32), |(total, n), &(l, _, w, d)| {
                    (total + w * l, n + d)
                });
            let divisor = match empty {
                EmptyClass::Exclude => counted,
                EmptyClass::Keep | EmptyClass::Zero => spec.included.iter().sum(),
            };
            if divisor == 0.0 {
                return (0.0, vec![[0.0; 3]; sums.len()]);
            }
            let (loss, slope) = Power::new(gamma).value_and_slope(total / divisor);
            let factor = slope / divisor;
            let slopes = (classes.iter())
                .map(|&(_, d, w, _)| d.map(|d| factor * w * d))
                .collect();
            (loss, slopes)
        }
        Score::Generalized(weight_type) => {
            let t: Vec<f32> = sums.iter().map(|s| s[2]).collect();
            let w = generalized_weights(weight_type, &spec.included, &t);
            let [smooth_nr, smooth_dr] = spec.smooth;
            let (top, bottom) = (sums.iter().zip(&w))
                .fold((0.0f32, 0.0f32), |(top, bottom), (&[i, p, t], &w)| {
                    (top + w * i, bottom + w * (p + t))
                });
            let (top, bottom) = (2.0 * top + smooth_nr, bottom + smooth_dr);
            if bottom == 0.0 {
                return (0.0, vec![[0.0; 3]; sums.len()]);
            }
            let ratio = top / bottom;
            let slopes = (w.iter())
                .map(|&w| {
                    let d = ratio * w / bottom;
                    [-2.0 * w / bottom, d, d]
                })
                .collect();
            (1.0 - ratio, slopes)
        }
    }
}

/// The loss (`[1]` reduced, `[R]` per row otherwise) of the statistics `[N, 3, C]`, and its
/// derivative with respect to each statistic for an upstream gradient of `1` per output
/// element (`[N, 3, C]`; under `None` each sample's block scales by its row's upstream value).
/// `weight`: the class weights of a ratio score (`[C]`).
pub(crate) fn forward(
    stats: &[f32],
    [n, c]: [usize; 2],
    weight: &[f32],
    spec: &ScoreSpec,
) -> (Vec<f32>, Vec<f32>) {
    let rows = if spec.batch { 1 } else { n };
    let samples = |row: usize| if spec.batch { 0..n } else { row..row + 1 };
    let scale = match spec.reduction {
        Reduction::Mean => 1.0 / rows as f32,
        Reduction::Sum | Reduction::None => 1.0,
    };
    let mut losses = Vec::with_capacity(rows);
    let mut slopes = vec![0.0f32; n * 3 * c];
    for r in 0..rows {
        // The row's statistics per class, pooled over the batch with `batch`.
        let sums: Vec<[f32; 3]> = (0..c)
            .map(|k| {
                samples(r).fold([0.0f32; 3], |[i, p, t], m| {
                    let at = m * 3 * c + k;
                    [i + stats[at], p + stats[at + c], t + stats[at + 2 * c]]
                })
            })
            .collect();
        let (loss, row_slopes) = row(spec, weight, &sums);
        losses.push(loss);
        for m in samples(r) {
            for (k, d) in row_slopes.iter().enumerate() {
                for (stat, d) in d.iter().enumerate() {
                    slopes[m * 3 * c + stat * c + k] = scale * d;
                }
            }
        }
    }
    let output = match spec.reduction {
        Reduction::None => losses,
        Reduction::Sum => vec![losses.iter().sum()],
        Reduction::Mean => vec![losses.iter().sum::<f32>() * scale],
    };
    (output, slopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(empty: EmptyClass, gamma: f32, batch: bool, reduction: Reduction) -> ScoreSpec {
        // Dice with smoothing 1 over three classes, channel 0 left out.
        let score = Score::Ratio {
            numerator: 2.0,
            denominator: [0.0, 1.0, 1.0],
            empty,
            gamma,
        };
        ScoreSpec {
            score,
            smooth: [1.0, 1.0],
            included: vec![0.0, 1.0, 1.0],
            batch,
            reduction,
        }
    }

    /// Two samples `[2, 3, 3]` of statistics; class 2 of sample 1 is empty.
    const STATS: [f32; 18] = [
        1.0, 2.0, 0.5, 3.0, 4.0, 1.0, 2.0, 3.0, 1.0, //
        0.5, 1.0, 0.0, 2.0, 2.0, 0.5, 1.0, 2.0, 0.0,
    ];

    fn dice(i: f32, p: f32, t: f32) -> f32 {
        1.0 - (2.0 * i + 1.0) / (p + t + 1.0)
    }

    #[test]
    fn values_by_hand() {
        let weight = [1.0, 1.0, 3.0];
        let per_row = |empty| {
            forward(
                &STATS,
                [2, 3],
                &weight,
                &spec(empty, 1.0, false, Reduction::None),
            )
            .0
        };
        let (a, b) = (dice(2.0, 4.0, 3.0), dice(0.5, 1.0, 1.0));
        let (c, d) = (dice(1.0, 2.0, 2.0), dice(0.0, 0.5, 0.0));
        let keep = per_row(EmptyClass::Keep);
        assert!((keep[0] - (a + 3.0 * b) / 2.0).abs() < 1e-6, "{keep:?}");
        assert!((keep[1] - (c + 3.0 * d) / 2.0).abs() < 1e-6, "{keep:?}");
        let zero = per_row(EmptyClass::Zero);
        assert!((zero[1] - c / 2.0).abs() < 1e-6, "{zero:?}");
        let exclude = per_row(EmptyClass::Exclude);
        assert!((exclude[1] - c).abs() < 1e-6, "{exclude:?}");
    }

    /// Every derivative against central differences of the forward value.
    #[test]
    fn slopes_match_finite_differences() {
        let weight = [1.0, 0.5, 2.0];
        for empty in [EmptyClass::Keep, EmptyClass::Zero, EmptyClass::Exclude] {
            for (gamma, batch, reduction) in [
                (1.0, false, Reduction::Mean),
                (2.0, true, Reduction::Sum),
                (0.75, false, Reduction::Sum),
            ] {
                let spec = spec(empty, gamma, batch, reduction);
                let (_, slopes) = forward(&STATS, [2, 3], &weight, &spec);
                for at in 0..STATS.len() {
                    let h = 1e-2;
                    let value = |delta: f32| {
                        let mut stats = STATS;
                        stats[at] += delta;
                        f64::from(forward(&stats, [2, 3], &weight, &spec).0[0])
                    };
                    let numeric = (value(h) - value(-h)) / (2.0 * f64::from(h));
                    let what = format!("{empty:?} {gamma} {batch} {reduction:?} at {at}");
                    // An empty class's T moves it in or out of `Zero`/`Exclude`; its `T` has no
                    // slope in the generic path either.
                    if STATS[at] == 0.0 && at % 9 >= 6 && empty != EmptyClass::Keep {
                        continue;
                    }
                    assert!(
                        (numeric - f64::from(slopes[at])).abs() < 2e-3,
                        "{what}: {numeric} vs {}",
                        slopes[at]
                    );
                }
            }
        }
    }

    /// Generalized Dice by hand (square weights, class 2 of sample 1 empty), and the
    /// derivatives in `I` and `P` (the weights, functions of `T`, carry none) against central
    /// differences.
    #[test]
    fn generalized_dice_by_hand() {
        let spec = |reduction| ScoreSpec {
            score: Score::Generalized(GeneralizedDiceWeight::Square),
            smooth: [1e-5, 1e-5],
            included: vec![1.0; 3],
            batch: false,
            reduction,
        };
        let (rows, _) = forward(&STATS, [2, 3], &[], &spec(Reduction::None));
        // Sample 1: T = [1, 2, 0]; w = [1/1, 1/4, and the largest, 1, for the empty class].
        let [i, p, t] = [[0.5, 1.0, 0.0], [2.0, 2.0, 0.5], [1.0, 2.0, 0.0]];
        let w = [1.0f32, 0.25, 1.0];
        let top: f32 = (0..3).map(|k| w[k] * i[k]).sum::<f32>() * 2.0 + 1e-5;
        let bottom: f32 = (0..3).map(|k| w[k] * (p[k] + t[k])).sum::<f32>() + 1e-5;
        assert!((rows[1] - (1.0 - top / bottom)).abs() < 1e-6, "{rows:?}");
        let spec = spec(Reduction::Sum);
        let (_, slopes) = forward(&STATS, [2, 3], &[], &spec);
        for at in (0..STATS.len()).filter(|at| at % 9 < 6) {
            let h = 1e-2;
            let value = |delta: f32| {
                let mut stats = STATS;
                stats[at] += delta;
                f64::from(forward(&stats, [2, 3], &[], &spec).0[0])
            };
            let numeric = (value(h) - value(-h)) / (2.0 * f64::from(h));
            let what = format!("at {at}: {numeric} vs {}", slopes[at]);
            assert!((numeric - f64::from(slopes[at])).abs() < 2e-3, "{what}");
        }
    }
}
