//! The softmax–cross-entropy kernel on host memory, in two forms:
//!
//! - a **reduced loss** (`Sum`, `Mean`): a pass over the targets gives the total weight, then
//!   one pass over `[N, C, S]` logits sums the losses and, where the logits need a gradient,
//!   writes `∂loss/∂x` from the `e^(x − m)` it has just computed ([`forward_reduced`]); the
//!   backward pass only scales it by the upstream value;
//! - **per pixel** (`None`): one pass gives each pixel's loss and what the backward pass needs
//!   (the log-sum-exp and one coefficient); the backward pass is one more pass writing `∂L/∂x`
//!   from the upstream gradient of each pixel ([`forward`], [`backward`]).
//!
//! Per pixel with target `y`, `log p_c = (x_c − m) − ln Σ_k e^(x_k − m)` with `m = max_k x_k`
//! (kept apart, so that `x_c − m` is exact even for logits of `1e4`), and weights `w` (class weights for
//! cross-entropy, `alpha` for focal; `1` when absent):
//!
//! - cross-entropy, smoothing `ε`: `L = (1 − ε)·w_y·(−log p_y) + (ε/C)·Σ_c w_c·(−log p_c)`,
//!   `∂L/∂x_c = (1 − ε)·w_y·(p_c − δ_cy) + (ε/C)·(W·p_c − w_c)` with `W = Σ_c w_c`;
//! - focal, `γ > 0`, `q = 1 − p_y`: `L = w_y·q^γ·(−log p_y)`,
//!   `∂L/∂x_c = w_y·(q^γ − γq^(γ−1)·p_y·log p_y)·(p_c − δ_cy)`.
//!
//! A pixel whose target is `ignore_index` or outside `[0, C)` has loss, weight and gradient `0`.
//! Every pass runs the tiles and blocks of [`super::blocks`] over rayon's threads; `S = 1`
//! (`[N, C]` logits) runs along the contiguous class rows instead. The per-pixel backward pass
//! recomputes `m` from the tile it reads anyway.

use rayon::prelude::*;

use super::blocks::{BLOCK, TILE, class_row_blocks, pixel_blocks, tile_max, tiles, zeros};
use super::fast_math::{Kernel, Power, exp, lane_sum, larger, ln, or_where, vectorized};
use super::{ClassLossKind, ClassLossSpec};
use crate::Reduction;

/// Rows of `[N, C]` logits per parallel task.
const ROWS: usize = 64;

/// A class-index target element: `i64` (ndarray) or `i32` (flex).
pub(crate) trait Target: Copy + Into<i64> + Send + Sync {}
impl<T: Copy + Into<i64> + Send + Sync> Target for T {}

/// Per pixel, `[N·S]` each: what the backward pass needs besides the logits and targets.
#[derive(Debug)]
pub(crate) struct Saved {
    /// `ln Σ_c e^(x_c − m)` with `m = max_c x_c`.
    pub log_sum: Vec<f32>,
    /// The coefficient of `(p_c − δ_cy)` in `∂L/∂x_c`.
    pub coef: Vec<f32>,
}

/// Forward results, each `[N·S]`.
pub(crate) struct ClassForward {
    pub losses: Vec<f32>,
    /// What the backward pass needs.
    pub saved: Saved,
    /// The first target in memory order that is neither in `[0, C)` nor `ignore_index`.
    pub first_bad: Option<i64>,
}

/// The spec with everything per-class or constant worked out once.
struct Prepared {
    classes: usize,
    ignore_index: i64,
    /// `w_c` (`1` without weights).
    weights: Vec<f32>,
    /// `1 − ε`, `ε/C` and `W = Σ_c w_c` (cross-entropy; `ε = 0` for focal).
    keep: f32,
    eps_c: f32,
    total_weight: f32,
    /// `Some(γ)` for focal with `γ > 0`.
    focal: Option<Power>,
    /// Focal: a pixel's weight in the mean is `1`, not `w_y`.
    unweighted_mean: bool,
}

impl Prepared {
    fn new(spec: &ClassLossSpec) -> Self {
        let c = spec.num_classes;
        // The tile loops keep a pixel's class in `i32` lanes.
        assert!(
            i32::try_from(c).is_ok(),
            "softmax-CE kernel: {c} classes do not fit the kernel's i32 class lanes"
        );
        let weights = spec.weight.clone().unwrap_or_else(|| vec![1.0; c]);
        let total_weight = weights.iter().sum();
        let (eps, focal, unweighted_mean) = match spec.kind {
            ClassLossKind::CrossEntropy { label_smoothing } => (label_smoothing, None, false),
            ClassLossKind::Focal { gamma } => (0.0, (gamma > 0.0).then(|| Power::new(gamma)), true),
        };
        Self {
            classes: c,
            ignore_index: spec.ignore_index,
            weights,
            keep: 1.0 - eps,
            eps_c: eps / c as f32,
            total_weight,
            focal,
            unweighted_mean,
        }
    }

    fn smoothing(&self) -> bool {
        self.eps_c > 0.0
    }

    /// The class of a target, `None` if it does not count, and whether it is out of range.
    #[inline(always)]
    fn class_of(&self, target: i64) -> (Option<usize>, bool) {
        let (counts, bad) = self.status(target);
        (counts.then_some(target as usize), bad)
    }

    /// Whether a target counts (in `[0, C)` and not `ignore_index`) and whether it is out of
    /// range (neither), without branches: the form the tile loops vectorise.
    #[inline(always)]
    fn status(&self, target: i64) -> (bool, bool) {
        let in_range = (0..self.classes as i64).contains(&target);
        let ignored = target == self.ignore_index;
        (in_range & !ignored, !in_range & !ignored)
    }

    /// The first target in memory order that is out of range (neither in `[0, C)` nor
    /// `ignore_index`), for the error message.
    fn first_bad<T: Target>(&self, targets: &[T]) -> Option<i64> {
        targets
            .iter()
            .map(|&t| t.into())
            .find(|&t| self.status(t).1)
    }

    /// Loss and coefficient of a tile's pixels from `[log p_y, w_y, valid, smoothing sum]`
    /// (`w_y = valid = 0` where the pixel does not count).
    #[inline(always)]
    fn finish_tile(&self, [log_p, w, v, smooth]: [&[f32]; 4], [loss, coef]: [&mut [f32]; 2]) {
        match self.focal {
            None => {
                let terms = log_p.iter().zip(w).zip(v).zip(smooth);
                let out = loss.iter_mut().zip(coef.iter_mut());
                for ((loss, coef), (((&log_p, &w), &v), &smooth)) in out.zip(terms) {
                    *loss = self.keep * w * -log_p + self.eps_c * v * smooth;
                    *coef = self.keep * w;
                }
            }
            // The power's case chosen once per tile, not per pixel.
            Some(Power::One) => {
                focal_tile(|q| Power::One.value_and_slope(q), [log_p, w], loss, coef)
            }
            Some(Power::Two) => {
                focal_tile(|q| Power::Two.value_and_slope(q), [log_p, w], loss, coef)
            }
            Some(power) => focal_tile(|q| power.value_and_slope(q), [log_p, w], loss, coef),
        }
    }

    /// `(loss, coefficient)` of a counting pixel of class `y` from `log p_y` and
    /// the smoothing sum `Σ_c w_c·(−log p_c)`.
    #[inline(always)]
    fn finish(&self, y: usize, log_p: f32, smooth: f32) -> (f32, f32) {
        let w = self.weights[y];
        match self.focal {
            None => (self.keep * w * -log_p + self.eps_c * smooth, self.keep * w),
            Some(power) => {
                let p = exp(log_p);
                let (q_pow, slope) = power.value_and_slope(1.0 - p);
                (w * q_pow * -log_p, w * (q_pow - slope * p * log_p))
            }
        }
    }
}

/// Focal loss and coefficient of a tile's pixels (see [`Prepared::finish_tile`]), with
/// `q ↦ (q^γ, γq^(γ−1))` given.
#[inline(always)]
fn focal_tile(
    value_and_slope: impl Fn(f32) -> (f32, f32),
    [log_p, w]: [&[f32]; 2],
    loss: &mut [f32],
    coef: &mut [f32],
) {
    for (((loss, coef), &log_p), &w) in loss.iter_mut().zip(coef).zip(log_p).zip(w) {
        let p = exp(log_p);
        let (q_pow, slope) = value_and_slope(1.0 - p);
        *loss = w * q_pow * -log_p;
        *coef = w * (q_pow - slope * p * log_p);
    }
}

/// A tile's pixels: per pixel the loss, the coefficient of `(p_c − δ_cy)`,
/// whether it counts (`1`/`0`) and its class (`-1` where it does not count); and the first
/// out-of-range target among them.
struct TilePixels {
    loss: [f32; TILE],
    coef: [f32; TILE],
    valid: [f32; TILE],
    class: [i32; TILE],
    first_bad: Option<i64>,
}

/// The [`TilePixels`] of a tile whose class rows `row(c)` are contiguous runs of `len <= TILE`
/// pixels, with targets `targets` (`len`), given each pixel's `m` and `ln Σ e^(x − m)`.
///
/// Every loop runs over whole tiles (the target's logit and weight are picked class by class,
/// not gathered pixel by pixel), so that it vectorises.
#[inline(always)]
fn tile_pixels<'a, T: Target>(
    row: impl Fn(usize) -> &'a [f32] + Copy,
    (c, len): (usize, usize),
    targets: &[T],
    (m, ls): (&[f32; TILE], &[f32; TILE]),
    k: &Prepared,
) -> TilePixels {
    let smooth = tile_smoothing(row, (c, len), (m, ls), k);
    // Each pixel's class and validity, and whether any target is out of range.
    // (`i32` lanes, twice as many per vector as `i64`; a class that counts is below `C`, which
    // `Prepared::new` bounds.)
    let (mut class, mut valid, mut any_bad) = ([-1i32; TILE], [0.0f32; TILE], false);
    for ((class, valid), &target) in class.iter_mut().zip(&mut valid).zip(targets) {
        let target: i64 = target.into();
        let (counts, bad) = k.status(target);
        *class = if counts { target as i32 } else { -1 };
        *valid = if counts { 1.0 } else { 0.0 };
        any_bad |= bad;
    }
    let first_bad = any_bad.then(|| k.first_bad(targets)).flatten();
    // `x_y − m` and the target's weight (`0` and `0` where a pixel does not count), picked
    // class by class over whole tiles. Exactly one class hits a pixel that counts, so the
    // pick can be an OR of bits into zeros: a select of the element's own value compiled to
    // masked stores (`vmaskmovps`), which AMD's cores execute slowly.
    let (mut shifted, mut w) = ([0.0f32; TILE], [0.0f32; TILE]);
    for (y, &w_y) in k.weights.iter().enumerate().take(c) {
        let picks = shifted.iter_mut().zip(&mut w).zip(&class).zip(m);
        for ((((shifted, w), &class), &m), &x) in picks.zip(row(y)) {
            let hit = class == y as i32;
            *shifted = or_where(*shifted, hit, x - m);
            *w = or_where(*w, hit, w_y);
        }
    }
    let mut log_p = [0.0f32; TILE];
    for j in 0..len {
        log_p[j] = shifted[j] - ls[j];
    }
    let (mut loss, mut coef) = ([0.0f32; TILE], [0.0f32; TILE]);
    k.finish_tile(
        [&log_p[..len], &w, &valid, &smooth],
        [&mut loss[..len], &mut coef[..len]],
    );
    TilePixels {
        loss,
        coef,
        valid,
        class,
        first_bad,
    }
}

/// The forward pass over contiguous `[N, C, S]` logits and `[N·S]` targets, per pixel (the
/// unreduced loss; [`forward_reduced`] reduces in the pass).
pub(crate) fn forward<T: Target>(
    x: &[f32],
    targets: &[T],
    [n, c, s]: [usize; 3],
    spec: &ClassLossSpec,
) -> ClassForward {
    debug_assert_eq!(x.len(), n * c * s);
    debug_assert_eq!(targets.len(), n * s);
    let k = Prepared::new(spec);
    let mut losses = zeros(n * s);
    let mut log_sum = zeros(n * s);
    let mut coef = zeros(n * s);
    // Each task: its pixels' outputs, returning its first out-of-range target.
    let stats = |(sample, s0, mut out): (usize, usize, Vec<&mut [f32]>)| -> Option<i64> {
        let mut first_bad = None;
        for (t0, len) in tiles(out[0].len()) {
            let base = sample * c * s + s0 + t0;
            let row = |class: usize| &x[base + class * s..][..len];
            let m = tile_max(row, c, len);
            let ls = tile_log_sum(row, c, len, &m);
            let targets = &targets[sample * s + s0 + t0..][..len];
            let px = tile_pixels(row, (c, len), targets, (&m, &ls), &k);
            first_bad = first_bad.or(px.first_bad);
            let [loss, ls_out, coef] = &mut out[..] else {
                unreachable!("three outputs")
            };
            loss[t0..t0 + len].copy_from_slice(&px.loss[..len]);
            ls_out[t0..t0 + len].copy_from_slice(&ls[..len]);
            coef[t0..t0 + len].copy_from_slice(&px.coef[..len]);
        }
        first_bad
    };
    let first_bad = if s == 1 {
        let outputs = [&mut losses[..], &mut log_sum, &mut coef];
        let rows = transpose(outputs.map(|o| o.chunks_mut(ROWS)));
        let bad: Vec<Option<i64>> = rows
            .into_par_iter()
            .enumerate()
            .map(|(chunk, mut out)| {
                let mut first_bad = None;
                for r in 0..out[0].len() {
                    let sample = chunk * ROWS + r;
                    let logits = &x[sample * c..][..c];
                    let (m, ls, smooth) = row_stats(logits, &k, None);
                    out[1][r] = ls;
                    let target = targets[sample].into();
                    match k.class_of(target) {
                        (Some(y), _) => {
                            let (l, q) = k.finish(y, (logits[y] - m) - ls, smooth);
                            (out[0][r], out[2][r]) = (l, q);
                        }
                        (None, true) => {
                            first_bad.get_or_insert(target);
                        }
                        (None, false) => {}
                    }
                }
                first_bad
            })
            .collect();
        bad.into_iter().flatten().next()
    } else {
        let outputs = vec![&mut losses[..], &mut log_sum, &mut coef];
        let bad: Vec<Option<i64>> = pixel_blocks(outputs, s)
            .into_par_iter()
            .map(stats)
            .collect();
        bad.into_iter().flatten().next()
    };
    ClassForward {
        losses,
        saved: Saved { log_sum, coef },
        first_bad,
    }
}

/// A loss reduced (`Sum` or `Mean`) inside its forward pass.
#[derive(Debug)]
pub(crate) struct Reduced {
    /// `Σ l`, or `Σ l / Σ d` (`0` where `Σ d = 0`: an all-ignored batch).
    pub loss: f32,
    /// With the gradient asked for: `∂loss/∂x` `[N, C, S]`, written by the same pass.
    pub gradient: Option<Vec<f32>>,
    /// The first target in memory order that is neither in `[0, C)` nor `ignore_index`.
    pub first_bad: Option<i64>,
}

/// The forward pass of a reduced loss: a pass over the targets gives the total weight `Σ d`,
/// then one pass over the logits sums the losses and, with `gradient`, writes `∂loss/∂x`
/// directly, from the `e^(x − m)` it has just computed. The backward pass then only scales
/// that gradient by its upstream value (nothing where it is `1`), and nothing `[N·S]` is
/// allocated.
pub(crate) fn forward_reduced<T: Target>(
    x: &[f32],
    targets: &[T],
    [n, c, s]: [usize; 3],
    spec: &ClassLossSpec,
    gradient: bool,
) -> Reduced {
    debug_assert_eq!(x.len(), n * c * s);
    debug_assert_eq!(targets.len(), n * s);
    debug_assert!(spec.reduction != Reduction::None);
    let k = Prepared::new(spec);
    let (total, first_bad) = total_weight(targets, &k);
    // The factor from the reduced loss to each pixel's: `1/Σ d` for a mean (`0` for an
    // all-ignored batch: a zero loss with a zero gradient), `1` for a sum.
    let (divisor, scale) = match spec.reduction {
        Reduction::Mean if total == 0.0 => (f64::INFINITY, 0.0),
        Reduction::Mean => (total, (1.0 / total) as f32),
        _ => (1.0, 1.0),
    };
    let mut grad = gradient.then(|| zeros(n * c * s));
    let pass = ReducedPass {
        x,
        targets,
        dims: [n, c, s],
        k,
        scale,
    };
    let pass = &pass;
    let sum: f64 = match (grad.as_mut(), s == 1) {
        (Some(grad), true) => grad
            .par_chunks_mut(c * ROWS)
            .enumerate()
            .map(|(chunk, out)| vectorized(pass, Rows(chunk * ROWS, Some(out))))
            .sum(),
        (None, true) => (0..n.div_ceil(ROWS))
            .into_par_iter()
            .map(|chunk| vectorized(pass, Rows(chunk * ROWS, None)))
            .sum(),
        (Some(grad), false) => class_row_blocks(grad, c, s)
            .into_par_iter()
            .map(|(sample, s0, mut runs)| {
                let len = runs[0].len();
                vectorized(pass, Pixels(sample, s0, len, Some(&mut runs)))
            })
            .sum(),
        (None, false) => (0..n)
            .flat_map(|sample| (0..s).step_by(BLOCK).map(move |s0| (sample, s0)))
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|(sample, s0)| vectorized(pass, Pixels(sample, s0, BLOCK.min(s - s0), None)))
            .sum(),
    };
    Reduced {
        loss: (sum / divisor) as f32,
        gradient: grad,
        first_bad,
    }
}

/// What every task of [`forward_reduced`] reads.
struct ReducedPass<'a, T> {
    x: &'a [f32],
    targets: &'a [T],
    dims: [usize; 3],
    k: Prepared,
    /// The factor from the reduced loss to each pixel's.
    scale: f32,
}

/// A task of [`forward_reduced`]: `len` pixels of `sample` from pixel `s0`, with their part
/// of each class row of the gradient where it is written.
struct Pixels<'a, 'g>(usize, usize, usize, Option<&'a mut [&'g mut [f32]]>);

/// A task of [`forward_reduced`] for `S = 1`: up to [`ROWS`] rows from the first, with their
/// rows of the gradient where it is written.
struct Rows<'g>(usize, Option<&'g mut [f32]>);

impl<T: Target> Kernel<Pixels<'_, '_>> for ReducedPass<'_, T> {
    type Output = f64;

    /// The pixels' loss sum; their gradient written where asked.
    #[inline(always)]
    fn run(&self, Pixels(sample, s0, len, mut runs): Pixels<'_, '_>) -> f64 {
        let [_, c, s] = self.dims;
        // Eight partial sums (in `f64`), so that adding a tile's losses vectorises.
        let mut sums = [0.0f64; 8];
        for (t0, len) in tiles(len) {
            let base = sample * c * s + s0 + t0;
            let row = |class: usize| &self.x[base + class * s..][..len];
            let m = tile_max(row, c, len);
            let (ls, inv_sum) = match runs.as_deref_mut() {
                Some(runs) => tile_exps_into(row, (c, len), &m, runs, t0),
                None => (tile_log_sum(row, c, len, &m), [0.0; TILE]),
            };
            let targets = &self.targets[sample * s + s0 + t0..][..len];
            let px = tile_pixels(row, (c, len), targets, (&m, &ls), &self.k);
            // (`loss` is `0` past `len`.)
            for losses in px.loss.chunks_exact(sums.len()) {
                for (sum, &loss) in sums.iter_mut().zip(losses) {
                    *sum += f64::from(loss);
                }
            }
            if let Some(runs) = runs.as_deref_mut() {
                tile_gradient(runs, (t0, len), &px, &inv_sum, &self.k, self.scale);
            }
        }
        sums.iter().sum()
    }
}

impl<T: Target> Kernel<Rows<'_>> for ReducedPass<'_, T> {
    type Output = f64;

    /// The rows' loss sum; their gradient written where asked.
    #[inline(always)]
    fn run(&self, Rows(first, mut out): Rows<'_>) -> f64 {
        let [n, c, _] = self.dims;
        let k = &self.k;
        let mut sum = 0.0f64;
        for sample in first..n.min(first + ROWS) {
            let logits = &self.x[sample * c..][..c];
            let mut row_out = out
                .as_deref_mut()
                .map(|o| &mut o[(sample - first) * c..][..c]);
            let (m, ls, smooth) = row_stats(logits, k, row_out.as_deref_mut());
            let (y, loss, coef) = match k.class_of(self.targets[sample].into()) {
                (Some(y), _) => {
                    let (loss, coef) = k.finish(y, (logits[y] - m) - ls, smooth);
                    (Some(y), loss, coef)
                }
                _ => (None, 0.0, 0.0),
            };
            if let Some(out) = row_out {
                // `out` holds `e^(x − m)`; `p = e^(x − m − ls)`.
                let a = self.scale * coef;
                let b = if y.is_some() {
                    self.scale * k.eps_c
                } else {
                    0.0
                };
                let per_e = (a + b * k.total_weight) * exp(-ls);
                for (dx, &w) in out.iter_mut().zip(&k.weights) {
                    *dx = *dx * per_e - b * w;
                }
                if let Some(y) = y {
                    out[y] -= a;
                }
            }
            sum += f64::from(loss);
        }
        sum
    }
}

/// `Σ d` over the pixels (`w_y`, or `1` for focal; `0` where a pixel does not count), from
/// each class's pixel count (exact, and no chain of dependent float additions), and the first
/// out-of-range target. Where every pixel that counts weighs `1`, only the count of those is
/// needed, in a loop that vectorises.
fn total_weight<T: Target>(targets: &[T], k: &Prepared) -> (f64, Option<i64>) {
    if k.unweighted_mean || k.weights.iter().all(|&w| w == 1.0) {
        let parts: Vec<(u64, Option<i64>)> = targets
            .par_chunks(BLOCK)
            .map(|chunk| {
                let (count, any_bad) = vectorized(&Counting(k), chunk);
                (count, any_bad.then(|| k.first_bad(chunk)).flatten())
            })
            .collect();
        let count: u64 = parts.iter().map(|&(n, _)| n).sum();
        return (count as f64, parts.into_iter().find_map(|(_, bad)| bad));
    }
    let parts: Vec<(Vec<u64>, Option<i64>)> = targets
        .par_chunks(BLOCK)
        .map(|chunk| {
            let (mut counts, mut first_bad) = (vec![0u64; k.classes], None);
            for &target in chunk {
                let target = target.into();
                match k.class_of(target) {
                    (Some(y), _) => counts[y] += 1,
                    (None, true) => {
                        first_bad.get_or_insert(target);
                    }
                    (None, false) => {}
                }
            }
            (counts, first_bad)
        })
        .collect();
    let mut counts = vec![0u64; k.classes];
    for (part, _) in &parts {
        counts
            .iter_mut()
            .zip(part)
            .for_each(|(total, n)| *total += n);
    }
    let total = (counts.iter().zip(&k.weights))
        .map(|(&n, &w)| n as f64 * f64::from(w))
        .sum();
    (total, parts.into_iter().find_map(|(_, bad)| bad))
}

/// [`total_weight`]'s count of the targets that count, and whether any is out of range.
struct Counting<'k>(&'k Prepared);

impl<T: Target> Kernel<&[T]> for Counting<'_> {
    type Output = (u64, bool);

    #[inline(always)]
    fn run(&self, targets: &[T]) -> (u64, bool) {
        let (mut count, mut any_bad) = (0u64, false);
        for &target in targets {
            let (counts, bad) = self.0.status(target.into());
            count += u64::from(counts);
            any_bad |= bad;
        }
        (count, any_bad)
    }
}

/// `ln Σ_c e^(x_c − m)` of each pixel of a tile.
#[inline(always)]
fn tile_log_sum<'a>(
    row: impl Fn(usize) -> &'a [f32],
    c: usize,
    len: usize,
    m: &[f32; TILE],
) -> [f32; TILE] {
    let mut sum = [0.0f32; TILE];
    for class in 0..c {
        for ((sum, &v), &m) in sum[..len].iter_mut().zip(row(class)).zip(m) {
            *sum += exp(v - m);
        }
    }
    let mut ls = [0.0f32; TILE];
    for (ls, &sum) in ls[..len].iter_mut().zip(&sum) {
        *ls = ln(sum);
    }
    ls
}

/// [`tile_log_sum`] that also writes each `e^(x_c − m)` into the tile's part (`t0..t0 + len`)
/// of `runs[c]`, and gives `1 / Σ_c e^(x_c − m)` as well.
#[inline(always)]
fn tile_exps_into<'a>(
    row: impl Fn(usize) -> &'a [f32],
    (c, len): (usize, usize),
    m: &[f32; TILE],
    runs: &mut [&mut [f32]],
    t0: usize,
) -> ([f32; TILE], [f32; TILE]) {
    let mut sum = [0.0f32; TILE];
    for (class, run) in runs.iter_mut().enumerate().take(c) {
        let out = &mut run[t0..t0 + len];
        for (((out, sum), &v), &m) in out.iter_mut().zip(&mut sum).zip(row(class)).zip(m) {
            let e = exp(v - m);
            *out = e;
            *sum += e;
        }
    }
    let (mut ls, mut inv) = ([0.0f32; TILE], [0.0f32; TILE]);
    for j in 0..len {
        ls[j] = ln(sum[j]);
        inv[j] = 1.0 / sum[j];
    }
    (ls, inv)
}

/// Turns a tile's `e^(x_c − m)` in `runs` into `scale·∂L/∂x_c =
/// scale·(a·(p_c − δ_cy) + b·(W·p_c − w_c))` (see the module docs), `p_c = e^(x_c − m)/Σ`.
#[inline(always)]
fn tile_gradient(
    runs: &mut [&mut [f32]],
    (t0, len): (usize, usize),
    px: &TilePixels,
    inv_sum: &[f32; TILE],
    k: &Prepared,
    scale: f32,
) {
    // Per pixel: `∂/∂x_c = e_c·per_e − b·w_c`, then `− a` at the target.
    let (mut a, mut b, mut per_e) = ([0.0f32; TILE], [0.0f32; TILE], [0.0f32; TILE]);
    for j in 0..len {
        a[j] = scale * px.coef[j];
        b[j] = scale * k.eps_c * px.valid[j];
        per_e[j] = (a[j] + b[j] * k.total_weight) * inv_sum[j];
    }
    for (y, (run, &w)) in runs.iter_mut().zip(&k.weights).enumerate() {
        let terms = per_e.iter().zip(&b).zip(&a).zip(&px.class);
        for (out, (((&per_e, &b), &a), &class)) in run[t0..t0 + len].iter_mut().zip(terms) {
            let target = if class == y as i32 { a } else { 0.0 };
            *out = *out * per_e - b * w - target;
        }
    }
}

/// The smoothing sum `Σ_c w_c·(−log p_c)` of each pixel of a tile (`0` without smoothing).
#[inline(always)]
fn tile_smoothing<'a>(
    row: impl Fn(usize) -> &'a [f32],
    (c, len): (usize, usize),
    (m, ls): (&[f32; TILE], &[f32; TILE]),
    k: &Prepared,
) -> [f32; TILE] {
    let mut smooth = [0.0f32; TILE];
    if k.smoothing() {
        for class in 0..c {
            let w = k.weights[class];
            for ((acc, &v), (&m, &ls)) in smooth[..len]
                .iter_mut()
                .zip(row(class))
                .zip(m.iter().zip(ls))
            {
                *acc += w * ((m - v) + ls);
            }
        }
    }
    smooth
}

/// `max` of a contiguous row, in 32 lanes the compiler vectorises: four vectors of eight,
/// four independent chains of `max`.
#[inline(always)]
fn row_max(logits: &[f32]) -> f32 {
    const LANES: usize = 32;
    let mut m = [f32::NEG_INFINITY; LANES];
    let chunks = logits.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for lane in 0..LANES {
            m[lane] = larger(m[lane], chunk[lane]);
        }
    }
    tail.iter()
        .chain(&m)
        .fold(f32::NEG_INFINITY, |a, &b| larger(a, b))
}

/// `m`, `ln Σ_c e^(x_c − m)` and the smoothing sum of one contiguous row of class logits;
/// with `exps`, each `e^(x_c − m)` is written there too.
#[inline(always)]
fn row_stats(logits: &[f32], k: &Prepared, exps: Option<&mut [f32]>) -> (f32, f32, f32) {
    /// Classes per piece of a row whose exponentials are not kept (a buffer in L1).
    const PIECE: usize = 256;
    let m = row_max(logits);
    let sum = match exps {
        Some(out) => exps_and_sum(logits, m, out),
        None => {
            let mut scratch = [0.0f32; PIECE];
            (logits.chunks(PIECE))
                .map(|piece| exps_and_sum(piece, m, &mut scratch[..piece.len()]))
                .sum()
        }
    };
    let ls = ln(sum);
    let smooth = if k.smoothing() {
        (logits.iter().zip(&k.weights))
            .map(|(&v, &w)| w * ((m - v) + ls))
            .sum()
    } else {
        0.0
    };
    (m, ls, smooth)
}

/// `Σ_c e^(x_c − m)` of a row, each `e^(x_c − m)` written to `out` (as long as `logits`): a
/// streaming loop, then a lane sum of what it wrote, still in L1. Both as one loop over groups
/// of eight lanes (`from_fn`, then `lanes[l] += e[l]`), the compiler kept the exponentials'
/// fused multiply-adds scalar: `[4096, 1000]` cross-entropy took twice as long.
#[inline(always)]
fn exps_and_sum(logits: &[f32], m: f32, out: &mut [f32]) -> f32 {
    for (out, &v) in out.iter_mut().zip(logits) {
        *out = exp(v - m);
    }
    lane_sum([out], |[e]| e)
}

/// `K` chunk iterators of equal length as one list of `K`-tuples (as `Vec`s).
fn transpose<'a, const K: usize>(
    chunks: [std::slice::ChunksMut<'a, f32>; K],
) -> Vec<Vec<&'a mut [f32]>> {
    let mut rows: Vec<Vec<&'a mut [f32]>> = Vec::new();
    for (k, column) in chunks.into_iter().enumerate() {
        for (i, chunk) in column.enumerate() {
            if k == 0 {
                rows.push(Vec::with_capacity(K));
            }
            rows[i].push(chunk);
        }
    }
    rows
}

/// The backward pass: `∂L/∂x` `[N, C, S]` from the upstream gradient of the pixels' losses.
pub(crate) fn backward<T: Target>(
    x: &[f32],
    targets: &[T],
    [n, c, s]: [usize; 3],
    spec: &ClassLossSpec,
    saved: &Saved,
    upstream: &[f32],
) -> Vec<f32> {
    let k = Prepared::new(spec);
    // Per pixel: `a = g·coef` (times `p_c − δ_cy`) and `b = g·ε/C` (times `W·p_c − w_c`).
    let coefficients = |pixel: usize| -> (f32, f32, Option<usize>) {
        let (y, _) = k.class_of(targets[pixel].into());
        let g = upstream[pixel];
        (
            g * saved.coef[pixel],
            if y.is_some() { g * k.eps_c } else { 0.0 },
            y,
        )
    };
    let by_row = |sample: usize, logits: &[f32], (m, ls): (f32, f32), out: &mut [f32]| {
        let (a, b, y) = coefficients(sample);
        for ((dx, &v), &w) in out.iter_mut().zip(logits).zip(&k.weights) {
            let p = exp((v - m) - ls);
            *dx = a * p + b * (k.total_weight * p - w);
        }
        if let Some(y) = y {
            out[y] -= a;
        }
    };
    let by_tile = |tile: &Tile<'_>, runs: &mut [&mut [f32]]| {
        let (mut a, mut b, mut y) = ([0.0f32; TILE], [0.0f32; TILE], [None; TILE]);
        for j in 0..tile.len {
            (a[j], b[j], y[j]) = coefficients(tile.pixel0 + j);
        }
        for (class, run) in runs.iter_mut().enumerate() {
            let w = k.weights[class];
            for (((out, &v), (&m, &ls)), (&a, &b)) in tile
                .part(run)
                .iter_mut()
                .zip(tile.logits(class))
                .zip(tile.m.iter().zip(tile.ls))
                .zip(a.iter().zip(&b))
            {
                let p = exp((v - m) - ls);
                *out = a * p + b * (k.total_weight * p - w);
            }
        }
        for j in 0..tile.len {
            if let Some(class) = y[j] {
                runs[class][tile.t0 + j] -= a[j];
            }
        }
    };
    backward_walk(x, [n, c, s], &saved.log_sum, by_row, by_tile)
}

/// One tile of a backward pass: its first pixel in `[N·S]` order, its length, each pixel's
/// `m` and `ln Σ e^(x − m)`, and its class rows of the logits.
struct Tile<'a> {
    /// The tile's offset in its block (and in each of `runs`).
    t0: usize,
    pixel0: usize,
    len: usize,
    m: [f32; TILE],
    ls: &'a [f32],
    x: &'a [f32],
    base: usize,
    stride: usize,
}

impl Tile<'_> {
    /// The tile's part of an output run.
    fn part<'r>(&self, run: &'r mut [f32]) -> &'r mut [f32] {
        &mut run[self.t0..self.t0 + self.len]
    }

    /// The tile's logits of `class`.
    fn logits(&self, class: usize) -> &[f32] {
        &self.x[self.base + class * self.stride..][..self.len]
    }
}

/// The walk every backward pass makes: allocates `∂L/∂x` `[N, C, S]` and fills it in parallel,
/// row by row for `S = 1` (`by_row(sample, logits, (m, ls), out)`) and tile by tile otherwise
/// (`by_tile(tile, runs)`, `tile.part(runs[c])` the tile's part of class `c`'s output row).
fn backward_walk(
    x: &[f32],
    [n, c, s]: [usize; 3],
    log_sum: &[f32],
    by_row: impl Fn(usize, &[f32], (f32, f32), &mut [f32]) + Sync,
    by_tile: impl Fn(&Tile<'_>, &mut [&mut [f32]]) + Sync,
) -> Vec<f32> {
    let mut grad = zeros(n * c * s);
    if s == 1 {
        grad.par_chunks_mut(c * ROWS)
            .enumerate()
            .for_each(|(chunk, out)| {
                for (r, out) in out.chunks_mut(c).enumerate() {
                    let sample = chunk * ROWS + r;
                    let logits = &x[sample * c..][..c];
                    by_row(sample, logits, (row_max(logits), log_sum[sample]), out);
                }
            });
        return grad;
    }
    class_row_blocks(&mut grad, c, s)
        .into_par_iter()
        .for_each(|(sample, s0, mut runs)| {
            for (t0, len) in tiles(runs[0].len()) {
                let pixel0 = sample * s + s0 + t0;
                let base = sample * c * s + s0 + t0;
                let row = |class: usize| &x[base + class * s..][..len];
                let tile = Tile {
                    t0,
                    pixel0,
                    len,
                    m: tile_max(row, c, len),
                    ls: &log_sum[pixel0..][..len],
                    x,
                    base,
                    stride: s,
                };
                by_tile(&tile, &mut runs);
            }
        });
    grad
}

/// The forward pass against probability targets `t` (`[N, C, S]`, same layout as `x`):
/// per pixel `L = Σ_c w_c·t'_c·(−log p_c)` with `t' = (1 − ε)·t + ε/C`; the saved coefficient
/// is `A = Σ_c w_c·t'_c`, so that `∂L/∂x_c = A·p_c − w_c·t'_c`.
pub(crate) fn soft_forward(
    x: &[f32],
    t: &[f32],
    [n, c, s]: [usize; 3],
    spec: &ClassLossSpec,
) -> (Vec<f32>, Saved) {
    let k = Prepared::new(spec);
    let mut losses = zeros(n * s);
    let mut log_sum = zeros(n * s);
    let mut coef = zeros(n * s);
    let block = |(sample, s0, mut out): (usize, usize, Vec<&mut [f32]>)| {
        for (t0, len) in tiles(out[0].len()) {
            let base = sample * c * s + s0 + t0;
            let row = |class: usize| &x[base + class * s..][..len];
            let target = |class: usize| &t[base + class * s..][..len];
            let m = tile_max(row, c, len);
            let ls = tile_log_sum(row, c, len, &m);
            let (mut loss, mut a) = ([0.0f32; TILE], [0.0f32; TILE]);
            for class in 0..c {
                let w = k.weights[class];
                for j in 0..len {
                    let wt = w * (k.keep * target(class)[j] + k.eps_c);
                    loss[j] += wt * ((m[j] - row(class)[j]) + ls[j]);
                    a[j] += wt;
                }
            }
            out[0][t0..t0 + len].copy_from_slice(&loss[..len]);
            out[1][t0..t0 + len].copy_from_slice(&ls[..len]);
            out[2][t0..t0 + len].copy_from_slice(&a[..len]);
        }
    };
    if s == 1 {
        losses
            .par_chunks_mut(ROWS)
            .zip(log_sum.par_chunks_mut(ROWS).zip(coef.par_chunks_mut(ROWS)))
            .enumerate()
            .for_each(|(chunk, (loss, (ls_out, a_out)))| {
                for r in 0..loss.len() {
                    let sample = chunk * ROWS + r;
                    let (logits, target) = (&x[sample * c..][..c], &t[sample * c..][..c]);
                    let (m, ls, _) = row_stats(logits, &k, None);
                    let (mut l, mut a) = (0.0, 0.0);
                    for ((&v, &y), &w) in logits.iter().zip(target).zip(&k.weights) {
                        let wt = w * (k.keep * y + k.eps_c);
                        l += wt * ((m - v) + ls);
                        a += wt;
                    }
                    (loss[r], ls_out[r], a_out[r]) = (l, ls, a);
                }
            });
    } else {
        let outputs = vec![&mut losses[..], &mut log_sum, &mut coef];
        pixel_blocks(outputs, s).into_par_iter().for_each(block);
    }
    (losses, Saved { log_sum, coef })
}

/// `∂L/∂x` of [`soft_forward`] from the upstream gradient `[N·S]`.
pub(crate) fn soft_backward(
    x: &[f32],
    t: &[f32],
    [n, c, s]: [usize; 3],
    spec: &ClassLossSpec,
    saved: &Saved,
    upstream: &[f32],
) -> Vec<f32> {
    let k = Prepared::new(spec);
    let by_row = |sample: usize, logits: &[f32], (m, ls): (f32, f32), out: &mut [f32]| {
        let (g, a) = (upstream[sample], saved.coef[sample]);
        let target = &t[sample * c..][..c];
        for (((dx, &v), &y), &w) in out.iter_mut().zip(logits).zip(target).zip(&k.weights) {
            let p = exp((v - m) - ls);
            *dx = g * (a * p - w * (k.keep * y + k.eps_c));
        }
    };
    let by_tile = |tile: &Tile<'_>, runs: &mut [&mut [f32]]| {
        let g = &upstream[tile.pixel0..][..tile.len];
        let a = &saved.coef[tile.pixel0..][..tile.len];
        for (class, run) in runs.iter_mut().enumerate() {
            let out = tile.part(run);
            let w = k.weights[class];
            let target = &t[tile.base + class * s..][..tile.len];
            let logits = tile.logits(class);
            for j in 0..tile.len {
                let p = exp((logits[j] - tile.m[j]) - tile.ls[j]);
                out[j] = g[j] * (a[j] * p - w * (k.keep * target[j] + k.eps_c));
            }
        }
    };
    backward_walk(x, [n, c, s], &saved.log_sum, by_row, by_tile)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cross-entropy of one pixel in f64, by the formula.
    fn reference(logits: &[f64], y: usize, w: &[f64], eps: f64) -> f64 {
        let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + logits.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        let c = logits.len() as f64;
        let smooth: f64 = logits.iter().zip(w).map(|(v, w)| w * (lse - v)).sum();
        (1.0 - eps) * w[y] * (lse - logits[y]) + eps / c * smooth
    }

    #[test]
    fn tile_and_row_layouts_give_the_same_losses_as_the_formula() {
        let (n, c) = (5, 3);
        let logits: Vec<f32> = (0..n * c)
            .map(|i| ((i * 7) % 11) as f32 * 0.9 - 4.0)
            .collect();
        let targets: Vec<i64> = vec![0, 2, -100, 1, 2];
        let spec = ClassLossSpec {
            num_classes: c,
            ignore_index: -100,
            weight: Some(vec![0.5, 1.0, 2.0]),
            kind: ClassLossKind::CrossEntropy {
                label_smoothing: 0.1,
            },
            reduction: Reduction::None,
        };
        let rows = forward(&logits, &targets, [n, c, 1], &spec);
        // The same data as one sample of `S = n` pixels: [1, C, S].
        let mut transposed = vec![0.0; n * c];
        for i in 0..n {
            for k in 0..c {
                transposed[k * n + i] = logits[i * c + k];
            }
        }
        let tiles = forward(&transposed, &targets, [1, c, n], &spec);
        for i in 0..n {
            let row: Vec<f64> = logits[i * c..][..c].iter().map(|&v| v as f64).collect();
            let expected = match targets[i] {
                -100 => 0.0,
                y => reference(&row, y as usize, &[0.5, 1.0, 2.0], 0.1),
            };
            for got in [rows.losses[i], tiles.losses[i]] {
                assert!(
                    (got as f64 - expected).abs() < 1e-5,
                    "{i}: {got} vs {expected}"
                );
            }
        }
        let k = Prepared::new(&spec);
        assert_eq!(total_weight(&targets, &k), (0.5 + 2.0 + 1.0 + 2.0, None));
        assert_eq!(rows.first_bad, None);
    }

    /// A row's statistics against f64, for lengths around the lanes (8) and the pieces (256)
    /// of the pass without kept exponentials; with them kept, the same sums and each
    /// `e^(x_c − m)` written.
    #[test]
    fn row_stats_match_f64_across_lanes_and_pieces() {
        for c in [1usize, 7, 8, 9, 256, 257, 1000] {
            let logits: Vec<f32> = (0..c)
                .map(|i| ((i * 37) % 101) as f32 * 0.3 - 15.0)
                .collect();
            let spec = ClassLossSpec {
                num_classes: c,
                ignore_index: -100,
                weight: None,
                kind: ClassLossKind::CrossEntropy {
                    label_smoothing: 0.2,
                },
                reduction: Reduction::None,
            };
            let k = Prepared::new(&spec);
            let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let sum: f64 = logits.iter().map(|&v| f64::from(v - m).exp()).sum();
            let smooth: f64 = logits.iter().map(|&v| f64::from(m - v) + sum.ln()).sum();
            let mut kept = vec![f32::NAN; c];
            for (got, exps) in [
                (row_stats(&logits, &k, None), false),
                (row_stats(&logits, &k, Some(&mut kept)), true),
            ] {
                assert_eq!(got.0, m, "C = {c}");
                assert!(
                    (f64::from(got.1) - sum.ln()).abs() < 1e-6,
                    "C = {c}: {got:?}"
                );
                let close = (f64::from(got.2) - smooth).abs() <= 1e-5 * smooth.abs().max(1.0);
                assert!(close, "C = {c}, kept {exps}: {} vs {smooth}", got.2);
            }
            for (&e, &v) in kept.iter().zip(&logits) {
                assert!(
                    (f64::from(e) - f64::from(v - m).exp()).abs() < 1e-6,
                    "C = {c}"
                );
            }
        }
    }

    /// The reduced pass against the per-pixel passes, reduced by hand: the loss `Σ l` or
    /// `Σ l / Σ d`, and the gradient of the per-pixel backward with `1` or `1/Σ d` upstream.
    fn check_reduced(x: &[f32], targets: &[i32], dims: [usize; 3], spec: &ClassLossSpec) {
        let pixels = forward(x, targets, dims, spec);
        let (total, _) = total_weight(targets, &Prepared::new(spec));
        let sum: f64 = pixels.losses.iter().map(|&l| f64::from(l)).sum();
        let (loss, scale) = match spec.reduction {
            Reduction::Sum => (sum, 1.0),
            _ if total == 0.0 => (0.0, 0.0),
            _ => (sum / total, 1.0 / total),
        };
        let upstream = vec![scale as f32; dims[0] * dims[2]];
        let grad = backward(x, targets, dims, spec, &pixels.saved, &upstream);
        let reduced = forward_reduced(x, targets, dims, spec, true);
        assert!((f64::from(reduced.loss) - loss).abs() < 1e-5 * loss.abs().max(1.0));
        assert_eq!(reduced.first_bad, pixels.first_bad);
        let fused = reduced.gradient.expect("asked for");
        for (i, (&got, &want)) in fused.iter().zip(&grad).enumerate() {
            assert!((got - want).abs() < 1e-6, "{i}: {got} vs {want}");
        }
        let without = forward_reduced(x, targets, dims, spec, false);
        assert_eq!(without.loss, reduced.loss);
        assert!(without.gradient.is_none());
    }

    #[test]
    fn the_reduced_pass_gives_the_per_pixel_passes_reduced() {
        let weight = Some(vec![0.5, 1.0, 2.0]);
        let kinds = [
            ClassLossKind::CrossEntropy {
                label_smoothing: 0.0,
            },
            ClassLossKind::CrossEntropy {
                label_smoothing: 0.2,
            },
            ClassLossKind::Focal { gamma: 2.0 },
        ];
        // 70 pixels: a full tile and a part one; class rows of length 1 (`S = 1`) too.
        let (c, pixels) = (3, 70);
        let x: Vec<f32> = (0..c * pixels)
            .map(|i| ((i * 37) % 23) as f32 * 0.7 - 8.0)
            .collect();
        let targets: Vec<i32> = (0..pixels as i32)
            .map(|i| [0, 2, -1, 1, 7][i as usize % 5])
            .collect();
        for kind in kinds {
            for reduction in [Reduction::Mean, Reduction::Sum] {
                let spec = ClassLossSpec {
                    num_classes: c,
                    ignore_index: -1,
                    weight: weight.clone(),
                    kind,
                    reduction,
                };
                check_reduced(&x, &targets, [1, c, pixels], &spec);
                check_reduced(&x, &targets, [2, c, pixels / 2], &spec);
                check_reduced(&x, &targets, [pixels, c, 1], &spec);
                // All ignored: `0` with a zero gradient for the mean.
                check_reduced(&x, &vec![-1; pixels], [1, c, pixels], &spec);
            }
        }
    }

    /// The reduced pass, the one whose kernels [`vectorized`] dispatches, gives the same
    /// bits at the baseline instruction set: tiles (a whole block, full and part tiles) and
    /// rows, every kind of loss.
    #[test]
    fn the_reduced_pass_does_not_depend_on_the_instruction_set() {
        use super::super::fast_math::{bits, dispatched_and_baseline};
        let (c, s) = (5, BLOCK + 70);
        let x: Vec<f32> = (0..2 * c * s)
            .map(|i| ((i * 7919) % 1013) as f32 * 0.05 - 25.0)
            .collect();
        let targets: Vec<i64> = (0..2 * s).map(|i| [0, 4, -1, 2, 1, 3][i % 6]).collect();
        let kinds = [
            (
                ClassLossKind::CrossEntropy {
                    label_smoothing: 0.1,
                },
                Reduction::Mean,
            ),
            (
                ClassLossKind::CrossEntropy {
                    label_smoothing: 0.0,
                },
                Reduction::Sum,
            ),
            (ClassLossKind::Focal { gamma: 2.0 }, Reduction::Mean),
            (ClassLossKind::Focal { gamma: 0.5 }, Reduction::Sum),
        ];
        for (kind, reduction) in kinds {
            let spec = ClassLossSpec {
                num_classes: c,
                ignore_index: -1,
                weight: Some(vec![0.5, 1.0, 2.0, 0.25, 1.5]),
                kind,
                reduction,
            };
            for dims in [[2, c, s], [2 * s, c, 1]] {
                let [dispatched, baseline] = dispatched_and_baseline(|| {
                    let out = forward_reduced(&x, &targets, dims, &spec, true);
                    let gradient = out.gradient.expect("asked for");
                    (out.loss.to_bits(), bits(&gradient), out.first_bad)
                });
                assert!(dispatched == baseline, "{kind:?}, {dims:?}");
            }
        }
    }

    #[test]
    fn reports_the_first_out_of_range_target() {
        let spec = ClassLossSpec {
            num_classes: 2,
            ignore_index: -1,
            weight: None,
            kind: ClassLossKind::Focal { gamma: 2.0 },
            reduction: Reduction::None,
        };
        let out = forward(&[0.0; 8], &[0i32, -1, 5, 2], [1, 2, 4], &spec);
        assert_eq!(out.first_bad, Some(5));
        assert_eq!(out.losses[2], 0.0);
    }
}
