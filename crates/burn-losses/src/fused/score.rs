//! The Dice-family loss from the overlap statistics on host memory: the few operations on
//! `[N, 3, C]` sums that follow the pixel pass (ratio per class, class mean, power, reduction),
//! in one loop that also writes `∂L/∂(I, P, T)` for an upstream gradient of `1`.
//!
//! The generic path computes the same with ~15 tensor operations (and as many backward nodes)
//! on tensors of a few dozen elements; see [`ScoreSpec`] for the formula.

use super::ScoreSpec;
use crate::{EmptyClass, Reduction};

/// `TINY` of `functional::math::pow_nonneg`: below it, `x^γ` (`γ ∉ {1, 2}`) is `TINY^γ` with a
/// zero derivative.
const TINY: f32 = 1.084_202_2e-19;

/// `(x^γ, d x^γ/dx)` under the rules of `pow_nonneg`: exact for `γ = 1, 2`, else `0` at
/// `x <= 0` and a zero derivative below `TINY`.
pub(crate) fn power(x: f32, gamma: f32) -> (f32, f32) {
    if gamma == 1.0 {
        (x, 1.0)
    } else if gamma == 2.0 {
        (x * x, 2.0 * x)
    } else if x <= 0.0 {
        (0.0, 0.0)
    } else if x < TINY {
        (TINY.powf(gamma), 0.0)
    } else {
        (x.powf(gamma), gamma * x.powf(gamma - 1.0))
    }
}

/// One class of one row: its loss `l` and `∂l/∂(I, P, T)`, `0` where the denominator is `0`.
pub(crate) fn class_loss(spec: &ScoreSpec, [i, p, t]: [f32; 3]) -> (f32, [f32; 3]) {
    let [b, u, v] = spec.denominator;
    let [smooth_nr, smooth_dr] = spec.smooth;
    let numerator = spec.numerator * i + smooth_nr;
    let denominator = b * i + u * p + v * t + smooth_dr;
    if denominator == 0.0 {
        return (0.0, [0.0; 3]);
    }
    let ratio = numerator / denominator;
    let slope = |coefficient: f32| ratio * coefficient / denominator;
    (
        1.0 - ratio,
        [slope(b) - spec.numerator / denominator, slope(u), slope(v)],
    )
}

impl ScoreSpec {
    /// The weight of a class with target sum `t` in the class mean (`weight` times inclusion,
    /// and `0` for an empty class under `Zero` and `Exclude`), and whether it counts in an
    /// `Exclude` mean's denominator.
    pub(crate) fn class_weight(&self, weight: f32, included: f32, t: f32) -> (f32, f32) {
        let w = weight * included;
        match self.empty {
            EmptyClass::Keep => (w, included),
            EmptyClass::Zero if t == 0.0 => (0.0, included),
            EmptyClass::Zero => (w, included),
            EmptyClass::Exclude if t > 0.0 => (w, included),
            EmptyClass::Exclude => (0.0, 0.0),
        }
    }
}

/// The loss (`[1]` reduced, `[R]` per row otherwise) of the statistics `[N, 3, C]`, and its
/// derivative with respect to each statistic for an upstream gradient of `1` per output
/// element (`[N, 3, C]`; under `None` each sample's block scales by its row's upstream value).
pub(crate) fn forward(
    stats: &[f32],
    [n, c]: [usize; 2],
    weight: &[f32],
    spec: &ScoreSpec,
) -> (Vec<f32>, Vec<f32>) {
    let rows = if spec.batch { 1 } else { n };
    let samples = |row: usize| if spec.batch { 0..n } else { row..row + 1 };
    // Row `row`'s statistics of class `k`, pooled over the batch with `batch`.
    let pooled = |row: usize, k: usize| {
        samples(row).fold([0.0f32; 3], |[i, p, t], m| {
            let at = m * 3 * c + k;
            [i + stats[at], p + stats[at + c], t + stats[at + 2 * c]]
        })
    };
    let count = spec.included.iter().sum::<f32>();
    let scale = match spec.reduction {
        Reduction::Mean => 1.0 / rows as f32,
        Reduction::Sum | Reduction::None => 1.0,
    };
    let mut losses = Vec::with_capacity(rows);
    let mut slopes = vec![0.0f32; n * 3 * c];
    for row in 0..rows {
        let classes: Vec<_> = (0..c)
            .map(|k| {
                let sums = pooled(row, k);
                let (loss, slope) = class_loss(spec, sums);
                let (w, counted) = spec.class_weight(weight[k], spec.included[k], sums[2]);
                (loss, slope, w, counted)
            })
            .collect();
        let (total, counted) = classes
            .iter()
            .fold((0.0f32, 0.0f32), |(total, counted), &(l, _, w, d)| {
                (total + w * l, counted + d)
            });
        let denominator = match spec.empty {
            EmptyClass::Exclude => counted,
            EmptyClass::Keep | EmptyClass::Zero => count,
        };
        let mean = if denominator == 0.0 {
            0.0
        } else {
            total / denominator
        };
        let (loss, power_slope) = power(mean, spec.gamma);
        losses.push(loss);
        if denominator == 0.0 {
            continue;
        }
        let factor = scale * power_slope / denominator;
        for m in samples(row) {
            for (k, &(_, slope, w, _)) in classes.iter().enumerate() {
                for (stat, d) in slope.iter().enumerate() {
                    slopes[m * 3 * c + stat * c + k] = factor * w * d;
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
        ScoreSpec {
            numerator: 2.0,
            denominator: [0.0, 1.0, 1.0],
            smooth: [1.0, 1.0],
            included: vec![0.0, 1.0, 1.0],
            empty,
            gamma,
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

    #[test]
    fn power_follows_pow_nonneg() {
        assert_eq!(power(-0.5, 2.0), (0.25, -1.0));
        assert_eq!(power(-0.5, 0.5), (0.0, 0.0));
        assert_eq!(power(0.25, 0.5), (0.5, 1.0));
        assert_eq!(power(1e-30, 0.5).1, 0.0);
    }
}
