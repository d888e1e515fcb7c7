//! The element-wise sigmoid losses on host memory — BCE with logits and the sigmoid focal
//! loss — in one pass over `[N, C, S]` logits and same-shape float targets: each element's
//! loss (or their sum) and, where the logits need a gradient, `∂l/∂x` of each element, so that
//! the backward pass only multiplies it by the upstream gradient (in place).
//!
//! Per element with logit `x`, target `t`, channel `c` (axis 1), `σ = σ(x)` and
//! `sp = softplus(−x) = max(−x, 0) + log1p(e^(−|x|))` (finite for any finite `x`):
//!
//! - BCE with logits, smoothing `ε`, `t' = t·(1 − ε) + ε/2`, weight `w_c`, positive weight
//!   `pw_c`: `l = w_c·((1 − t')·x + (1 + (pw_c − 1)·t')·sp)`,
//!   `∂l/∂x = w_c·((1 + (pw_c − 1)·t')·σ − pw_c·t')`; an element whose target equals
//!   `ignore_value` has loss and gradient `0` and leaves the mean's count;
//! - sigmoid focal (torchvision), `γ > 0`: `ce = (1 − t)·x + sp`, `q = σ·(1 − t) + (1 − σ)·t`,
//!   `l = α_t·ce·q^γ` with `α_t = α·t + (1 − α)·(1 − t)` (`1` without `α`),
//!   `∂l/∂x = α_t·((σ − t)·q^γ + ce·γq^(γ−1)·σ(1 − σ)(1 − 2t))`.

use rayon::prelude::*;

use super::blocks::{BLOCK, TILE, zeros};
use super::fast_math::{Kernel, Power, exp, lane_sum, ln, vectorized};
use super::{BinaryLossKind, BinaryLossSpec};
use crate::Reduction;

/// The forward pass's results.
#[derive(Debug)]
pub(crate) struct BinaryForward {
    /// `[1]` for `Sum` and `Mean`, each element's loss for `None`.
    pub loss: Vec<f32>,
    /// Where asked for: `∂loss/∂x` for a reduced loss, `∂l/∂x` of each element for `None`,
    /// up to the factor [`Self::factor`].
    pub derivative: Option<Vec<f32>>,
    /// What the derivative still needs multiplying by: `1`, or `1/count` for a mean whose
    /// count was only known at the end of the pass (ignored targets).
    pub factor: f32,
}

/// `(σ, 1 − σ, softplus(−x))` from `e = e^(−|x|)`: `σ` and `1 − σ` each without
/// cancellation (`1/(1 + e)` is the one near 1, `e/(1 + e)` the other), `softplus(−x) =
/// max(−x, 0) + log1p(e)`.
///
/// `log1p(e)` is `ln w` of the rounded `w = 1 + e`, corrected by the rounding error
/// `c = e − (w − 1)` (exact) times `d ln w/dw = 1/w`: `ln(w + c) = ln w + c/w − …`, with
/// `|c/w| <= 2^−24`, so the next term is below f32's resolution. Where `e < 2^−24`, `w = 1` and
/// this is `e` itself. `1/w` is the `1/(1 + e)` the sigmoid needs anyway, so this takes one
/// division per element where Kahan's `log1p` (`ln w · e/(w − 1)`) took a second one and a
/// branch: ~15 % of BCE's pass.
#[inline(always)]
fn sigmoid_parts(x: f32) -> (f32, f32, f32) {
    let e = exp(-x.abs());
    let w = 1.0 + e;
    let r = 1.0 / w;
    let (sigma, one_minus_sigma) = if x >= 0.0 { (r, e * r) } else { (e * r, r) };
    let log1p = (e - (w - 1.0)).mul_add(r, ln(w));
    (sigma, one_minus_sigma, (-x).max(0.0) + log1p)
}

/// BCE with logits of one element: `(loss, ∂l/∂x, counts)`.
#[inline(always)]
fn bce(x: f32, t: f32, (w, pw): (f32, f32), eps: f32, ignore: Option<f32>) -> (f32, f32, f32) {
    let (sigma, one_minus_sigma, sp) = sigmoid_parts(x);
    let t_s = t * (1.0 - eps) + eps / 2.0;
    let positive = 1.0 + (pw - 1.0) * t_s;
    let loss = w * ((1.0 - t_s) * x + positive * sp);
    // `P·σ − pw·t'`, which is also `(1 − t') − P·(1 − σ)`: the form without cancellation
    // where `σ` is near 1.
    let derivative = w * if x >= 0.0 {
        (1.0 - t_s) - positive * one_minus_sigma
    } else {
        positive * sigma - pw * t_s
    };
    if ignore.is_some_and(|v| t == v) {
        (0.0, 0.0, 0.0)
    } else {
        (loss, derivative, 1.0)
    }
}

/// The sigmoid focal loss of one element, `power(q) = (q^γ, γq^(γ−1))`: `(loss, ∂l/∂x, 1)`.
#[inline(always)]
fn focal(x: f32, t: f32, alpha: Option<f32>, power: impl Fn(f32) -> (f32, f32)) -> (f32, f32, f32) {
    let (sigma, one_minus_sigma, sp) = sigmoid_parts(x);
    let alpha_t = alpha.map_or(1.0, |a| a * t + (1.0 - a) * (1.0 - t));
    let ce = (1.0 - t) * x + sp;
    let sigma_minus_t = if x >= 0.0 {
        (1.0 - t) - one_minus_sigma
    } else {
        sigma - t
    };
    let q = sigma * (1.0 - t) + one_minus_sigma * t;
    let (q_pow, slope) = power(q);
    let dq = sigma * one_minus_sigma * (1.0 - 2.0 * t);
    let derivative = sigma_minus_t * q_pow + ce * slope * dq;
    (alpha_t * ce * q_pow, alpha_t * derivative, 1.0)
}

/// What every task of a pass reads.
struct Pass<'a> {
    x: &'a [f32],
    t: &'a [f32],
    /// `C` and `S`: element `i` is of channel `(i / S) % C`.
    channels: usize,
    spatial: usize,
    kind: BinaryLossKind,
    /// Per channel, `None` meaning `1`.
    weight: Option<Vec<f32>>,
    pos_weight: Option<Vec<f32>>,
    /// Applied to every derivative in the pass (`1/count` where the count is known first).
    scale: f32,
}

/// A task: `len` elements from `start`, with their part of the losses (`None` reduction) and
/// of the derivatives where these are written. Returns the sum of their losses (tiles in f32
/// lanes, the tiles summed in f64) and how many count.
struct Elements<'o>(usize, usize, Option<&'o mut [f32]>, Option<&'o mut [f32]>);

impl Kernel<Elements<'_>> for Pass<'_> {
    type Output = (f64, f64);

    /// The loss's case is chosen here, once, so that each element loop is branch-free.
    #[inline(always)]
    fn run(&self, task: Elements<'_>) -> (f64, f64) {
        match self.kind {
            // Without `ignore_value` (the default), a loop with no per-element check.
            BinaryLossKind::BceWithLogits {
                label_smoothing,
                ignore_value: None,
            } => self.walk(task, |x, t, w| bce(x, t, w, label_smoothing, None)),
            BinaryLossKind::BceWithLogits {
                label_smoothing,
                ignore_value,
            } => self.walk(task, |x, t, w| bce(x, t, w, label_smoothing, ignore_value)),
            BinaryLossKind::Focal { alpha, gamma } => match Power::new(gamma) {
                _ if gamma == 0.0 => self.walk(task, |x, t, _| focal(x, t, alpha, |_| (1.0, 0.0))),
                Power::One => self.walk(task, |x, t, _| focal(x, t, alpha, |q| (q, 1.0))),
                Power::Two => self.walk(task, |x, t, _| focal(x, t, alpha, |q| (q * q, 2.0 * q))),
                power => self.walk(task, |x, t, _| {
                    focal(x, t, alpha, |q| power.value_and_slope(q))
                }),
            },
        }
    }
}

impl Pass<'_> {
    /// The task's elements through `element(x, t, (w_c, pw_c)) -> (loss, ∂l/∂x, counts)`, in
    /// runs of one channel, in tiles.
    #[inline(always)]
    fn walk(
        &self,
        Elements(start, len, mut losses, mut derivative): Elements<'_>,
        element: impl Fn(f32, f32, (f32, f32)) -> (f32, f32, f32),
    ) -> (f64, f64) {
        let at = |v: &Option<Vec<f32>>, c: usize| v.as_ref().map_or(1.0, |v| v[c]);
        let (mut sum, mut count) = (0.0f64, 0.0f64);
        let mut i = start;
        while i < start + len {
            let row = i / self.spatial;
            let end = (start + len).min((row + 1) * self.spatial);
            let channel = row % self.channels;
            let weights = (at(&self.weight, channel), at(&self.pos_weight, channel));
            for t0 in (i..end).step_by(TILE) {
                let n = TILE.min(end - t0);
                let (mut l, mut d, mut v) = ([0.0f32; TILE], [0.0f32; TILE], [0.0f32; TILE]);
                let (x, t) = (&self.x[t0..][..n], &self.t[t0..][..n]);
                for j in 0..n {
                    (l[j], d[j], v[j]) = element(x[j], t[j], weights);
                }
                sum += f64::from(lane_sum([&l[..n]], |[l]| l));
                count += f64::from(lane_sum([&v[..n]], |[v]| v));
                let at = t0 - start;
                if let Some(out) = losses.as_deref_mut() {
                    out[at..at + n].copy_from_slice(&l[..n]);
                }
                if let Some(out) = derivative.as_deref_mut() {
                    for (out, &d) in out[at..at + n].iter_mut().zip(&d) {
                        *out = d * self.scale;
                    }
                }
            }
            i = end;
        }
        (sum, count)
    }
}

/// The forward pass over `[N, C, S]` logits `x` and targets `t` (`C` and `S` for the channel
/// of each element), writing the derivative where `derivative` is asked for.
pub(crate) fn forward(
    x: &[f32],
    t: &[f32],
    [_, c, s]: [usize; 3],
    spec: &BinaryLossSpec,
    derivative: bool,
) -> BinaryForward {
    debug_assert_eq!(x.len(), t.len());
    let numel = x.len();
    let ignores = matches!(
        spec.kind,
        BinaryLossKind::BceWithLogits {
            ignore_value: Some(_),
            ..
        }
    );
    // Where every element counts, a mean's factor is known before the pass.
    let scale = match spec.reduction {
        Reduction::Mean if !ignores && numel > 0 => 1.0 / numel as f32,
        _ => 1.0,
    };
    let pass = Pass {
        x,
        t,
        channels: c.max(1),
        spatial: s.max(1),
        kind: spec.kind,
        weight: spec.weight.clone(),
        pos_weight: spec.pos_weight.clone(),
        scale,
    };
    let keep_losses = spec.reduction == Reduction::None;
    let mut losses = keep_losses.then(|| zeros(numel));
    let mut derivatives = derivative.then(|| zeros(numel));
    let tasks: Vec<_> = chunks(losses.as_deref_mut(), numel)
        .into_iter()
        .zip(chunks(derivatives.as_deref_mut(), numel))
        .enumerate()
        .collect();
    let pass = &pass;
    let parts: Vec<(f64, f64)> = tasks
        .into_par_iter()
        .map(|(block, (l, d))| {
            let start = block * BLOCK;
            let len = BLOCK.min(numel - start);
            vectorized(pass, Elements(start, len, l, d))
        })
        .collect();
    let sum: f64 = parts.iter().map(|p| p.0).sum();
    let count: f64 = parts.iter().map(|p| p.1).sum();
    let (loss, factor) = match spec.reduction {
        Reduction::None => (losses.unwrap_or_default(), 1.0),
        Reduction::Sum => (vec![sum as f32], 1.0),
        Reduction::Mean if count == 0.0 => (vec![0.0], 0.0),
        Reduction::Mean if ignores => (vec![(sum / count) as f32], (1.0 / count) as f32),
        Reduction::Mean => (vec![(sum / count) as f32], 1.0),
    };
    BinaryForward {
        loss,
        derivative: derivatives,
        factor,
    }
}

/// An output's blocks of [`BLOCK`] elements, or as many `None`s where it is not written.
fn chunks(output: Option<&mut [f32]>, len: usize) -> Vec<Option<&mut [f32]>> {
    match output {
        Some(output) => output.chunks_mut(BLOCK).map(Some).collect(),
        None => (0..len.div_ceil(BLOCK)).map(|_| None).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PyTorch's formula in f64.
    fn bce(x: f64, t: f64, w: f64, pw: f64) -> (f64, f64) {
        let sp = (-x).max(0.0) + (-x.abs()).exp().ln_1p();
        let sigma = 1.0 / (1.0 + (-x).exp());
        let positive = 1.0 + (pw - 1.0) * t;
        (
            w * ((1.0 - t) * x + positive * sp),
            w * (positive * sigma - pw * t),
        )
    }

    #[test]
    fn softplus_is_within_a_few_ulp_over_the_whole_range() {
        // Up to `x = 87`: beyond, `e^−x` is below f32's normal range, and `exp` flushes it to
        // `0` (checked below).
        let (mut worst, mut x) = (0u64, -100.0f32);
        while x < 87.0 {
            let expected = (-f64::from(x)).max(0.0) + (-f64::from(x).abs()).exp().ln_1p();
            let got = sigmoid_parts(x).2;
            // In ulps of the f32 nearest the exact value.
            let ulp = f64::from((expected as f32).next_up() - expected as f32);
            worst = worst.max(((f64::from(got) - expected).abs() / ulp).round() as u64);
            x += 0.001_37;
        }
        assert!(worst <= 2, "worst {worst} ulp");
        // log1p(e) = e where 1 + e rounds to 1.
        assert_eq!(sigmoid_parts(30.0).2, (-30.0f32).exp());
        assert_eq!(sigmoid_parts(-1e4).2, 1e4);
        assert_eq!(sigmoid_parts(1e4).2, 0.0);
    }

    #[test]
    fn bce_elements_follow_the_formula_over_the_whole_range() {
        let spec = BinaryLossSpec {
            kind: BinaryLossKind::BceWithLogits {
                label_smoothing: 0.0,
                ignore_value: Some(255.0),
            },
            weight: Some(vec![0.5, 2.0]),
            pos_weight: Some(vec![3.0, 1.0]),
            reduction: Reduction::None,
        };
        // [1, 2, 5]: channel 0 then channel 1.
        let x = [-1e4, -20.0, -0.3, 0.0, 30.0, 1e4, -3.0, 0.7, 17.0, 2.0];
        let t = [0.0, 1.0, 0.25, 1.0, 0.0, 1.0, 255.0, 0.0, 1.0, 0.5];
        let out = forward(&x, &t, [1, 2, 5], &spec, true);
        let d = out.derivative.expect("asked for");
        for i in 0..x.len() {
            let (w, pw) = if i < 5 { (0.5, 3.0) } else { (2.0, 1.0) };
            let (l, g) = match t[i] {
                255.0 => (0.0, 0.0),
                ti => bce(f64::from(x[i]), f64::from(ti), w, pw),
            };
            let close = |a: f32, b: f64| (f64::from(a) - b).abs() <= 1e-6 * b.abs().max(1e-3);
            assert!(close(out.loss[i], l), "{i}: loss {} vs {l}", out.loss[i]);
            assert!(close(d[i], g), "{i}: derivative {} vs {g}", d[i]);
        }
    }

    /// The element pass gives the same bits at the baseline instruction set as dispatched
    /// ([`super::super::fast_math::vectorized`]): every kind and option, a whole block and a
    /// part one.
    #[test]
    fn the_element_pass_does_not_depend_on_the_instruction_set() {
        use super::super::fast_math::{bits, dispatched_and_baseline};
        let (c, s) = (3, BLOCK / 2 + 37);
        let x: Vec<f32> = (0..c * s)
            .map(|i| ((i * 7919) % 1013) as f32 * 0.05 - 25.0)
            .collect();
        let t: Vec<f32> = (0..c * s).map(|i| [0.0, 1.0, 0.3, 255.0][i % 4]).collect();
        let kinds = [
            BinaryLossKind::BceWithLogits {
                label_smoothing: 0.1,
                ignore_value: Some(255.0),
            },
            BinaryLossKind::BceWithLogits {
                label_smoothing: 0.0,
                ignore_value: None,
            },
            BinaryLossKind::Focal {
                alpha: Some(0.25),
                gamma: 2.0,
            },
            BinaryLossKind::Focal {
                alpha: None,
                gamma: 1.5,
            },
        ];
        for kind in kinds {
            for reduction in [Reduction::None, Reduction::Mean] {
                let spec = BinaryLossSpec {
                    kind,
                    weight: Some(vec![0.5, 2.0, 1.0]),
                    pos_weight: Some(vec![3.0, 1.0, 0.5]),
                    reduction,
                };
                let [dispatched, baseline] = dispatched_and_baseline(|| {
                    let out = forward(&x, &t, [1, c, s], &spec, true);
                    let derivative = out.derivative.expect("asked for");
                    (bits(&out.loss), bits(&derivative), out.factor.to_bits())
                });
                assert!(dispatched == baseline, "{kind:?}, {reduction:?}");
            }
        }
    }

    #[test]
    fn a_mean_over_ignored_targets_leaves_its_factor_to_the_backward_pass() {
        let mut spec = BinaryLossSpec {
            kind: BinaryLossKind::BceWithLogits {
                label_smoothing: 0.1,
                ignore_value: Some(-1.0),
            },
            weight: None,
            pos_weight: None,
            reduction: Reduction::Mean,
        };
        let x = [0.5; 6];
        let t = [1.0, -1.0, 0.0, -1.0, 1.0, 0.0];
        let out = forward(&x, &t, [1, 1, 6], &spec, true);
        assert_eq!(out.factor, 0.25);
        let all = forward(&x, &[-1.0; 6], [1, 1, 6], &spec, true);
        assert_eq!((all.loss[0], all.factor), (0.0, 0.0));
        spec.kind = BinaryLossKind::Focal {
            alpha: None,
            gamma: 2.0,
        };
        let focal = forward(&x, &[1.0; 6], [1, 1, 6], &spec, true);
        assert_eq!(
            focal.factor, 1.0,
            "every element counts: 1/6 applied in the pass"
        );
        let d = focal.derivative.expect("asked for");
        // One element of a mean of six: 1/6 of the element's derivative.
        let alone = forward(&x[..1], &[1.0], [1, 1, 1], &spec, true);
        let d1 = alone.derivative.expect("asked for")[0];
        assert!((d[0] * 6.0 - d1).abs() < 1e-7);
    }
}
