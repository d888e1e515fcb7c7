//! The class-overlap kernel on host memory: one pass over `[N, C, S]` inputs gives, per sample
//! and class, `I = Σ a·y`, `P = Σ a^p` and `T = Σ y^p` with `a` the activated input (kept,
//! where the input needs a gradient, in the buffer that becomes the gradient); the backward
//! pass is one more pass writing `∂L/∂x` from `∂L/∂I` and `∂L/∂P` over the kept `a`.
//!
//! With class-index targets a pixel counts when its index is in `[0, C)`; one that does not
//! leaves every sum (`a` is taken as `0` there), as in the generic path. Per pixel, with `v`
//! its validity and `u_c = v·(∂L/∂I_c·y_c + ∂L/∂P_c·p·(v·a_c)^(p−1))`, the input gradient
//! is `a_c·(u_c − Σ_k a_k·u_k)` (softmax), `u_c·a_c·(1 − a_c)` (sigmoid) or `u_c` (none).
//! Targets get no gradient: the dispatcher takes this path only for targets that need none.
//!
//! The softmax couples the classes of a pixel, so it works in tiles of every class of
//! [`TILE`] pixels; an elementwise activation (sigmoid, none) streams each class row on its own
//! in tiles of [`ROW_TILE`] pixels, activating, storing and summing.

use rayon::prelude::*;

use super::blocks::{BLOCK, ROW_TILE, TILE, class_row_blocks, tile_max, tiles, tiles_of};
use super::fast_math::{Kernel, Power, exp, sigmoid, vectorized};
use super::softmax_ce::Target;
use crate::Activation;

/// The targets as host slices.
#[derive(Clone, Copy)]
pub(crate) enum HostTargets<'a, T> {
    /// `[N, C, S]`, same layout as the input.
    Dense(&'a [f32]),
    /// `[N·S]` class indices.
    Indices(&'a [T]),
}

/// What every tile needs: dimensions, activation and power.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OverlapSpec {
    pub dims: [usize; 3],
    pub activation: Activation,
    pub power: Power,
}

/// The pixels of one tile: each one's class (`-1`: does not count, or dense targets) and
/// validity.
struct TilePixels {
    class: [i32; TILE],
    valid: [f32; TILE],
}

impl TilePixels {
    /// `1` where a pixel is of `class` (index targets), `0` elsewhere: its target row.
    #[inline(always)]
    fn members(&self, class: usize) -> [f32; TILE] {
        self.class
            .map(|y| if y == class as i32 { 1.0 } else { 0.0 })
    }
}

/// Where a tile's activations `a` (row `class`: its `len` pixels) are written and read: its
/// part of the stored activations, `runs[class][t0..t0 + len]`, where these are kept, else a
/// scratch tile `[C·TILE]`. Writing straight into the stored rows saves copying each row
/// there (a `memcpy` call per row of 64 pixels, and one back in the backward pass: together
/// ~11 % of the samples of Dice's forward and backward passes).
enum TileRows<'t, 'r> {
    Scratch(&'t mut [f32]),
    Stored(&'t mut [&'r mut [f32]], usize),
}

impl TileRows<'_, '_> {
    #[inline(always)]
    fn row(&mut self, class: usize, len: usize) -> &mut [f32] {
        match self {
            Self::Scratch(a) => &mut a[class * TILE..][..len],
            Self::Stored(runs, t0) => &mut runs[class][*t0..*t0 + len],
        }
    }
}

impl OverlapSpec {
    /// Writes the softmax of the `len` pixels of sample `n` from pixel `s0` into `rows`.
    #[inline(always)]
    fn softmax(&self, x: &[f32], (n, s0, len): (usize, usize, usize), rows: &mut TileRows) {
        let [_, c, s] = self.dims;
        let row = |class: usize| &x[n * c * s + class * s + s0..][..len];
        let m = tile_max(row, c, len);
        let mut sum = [0.0f32; TILE];
        for class in 0..c {
            let out = rows.row(class, len);
            for (((out, sum), &v), &m) in out.iter_mut().zip(&mut sum).zip(row(class)).zip(&m) {
                *out = exp(v - m);
                *sum += *out;
            }
        }
        let inv = sum.map(|s| 1.0 / s);
        for class in 0..c {
            for (out, &inv) in rows.row(class, len).iter_mut().zip(&inv) {
                *out *= inv;
            }
        }
    }

    /// Fills `tile`'s classes and validities for the `len` pixels of sample `n` from `s0`.
    #[inline(always)]
    fn load_targets<T: Target>(
        &self,
        targets: HostTargets<'_, T>,
        (n, s0, len): (usize, usize, usize),
        tile: &mut TilePixels,
    ) {
        let [_, c, s] = self.dims;
        match targets {
            // Set once, by `tile`: every pixel counts.
            HostTargets::Dense(_) => {}
            HostTargets::Indices(t) => {
                for j in 0..len {
                    let y: i64 = t[n * s + s0 + j].into();
                    let counts = (0..c as i64).contains(&y);
                    tile.class[j] = if counts { y as i32 } else { -1 };
                    tile.valid[j] = if counts { 1.0 } else { 0.0 };
                }
            }
        }
    }

    /// An empty tile's pixels for `targets`: with dense targets every pixel counts, for good.
    fn tile<T>(&self, targets: HostTargets<'_, T>) -> TilePixels {
        let dense = matches!(targets, HostTargets::Dense(_));
        assert!(
            i32::try_from(self.dims[1]).is_ok(),
            "overlap kernel: {} classes do not fit the tile's i32 classes",
            self.dims[1]
        );
        TilePixels {
            class: [-1; TILE],
            valid: [if dense { 1.0 } else { 0.0 }; TILE],
        }
    }
}

/// The statistics `[N, 3, C]` (`I`, `P`, `T` for each sample), summed in f64 per block and
/// in a fixed order, so the result does not depend on the thread count.
///
/// With `activations` (`[N, C, S]`, like `x`), the activated input is written there too, for
/// [`backward`].
pub(crate) fn forward<T: Target>(
    x: &[f32],
    targets: HostTargets<'_, T>,
    spec: OverlapSpec,
    activations: Option<&mut [f32]>,
) -> Vec<f32> {
    let [n, c, s] = spec.dims;
    let blocks: Vec<(usize, usize)> = (0..n)
        .flat_map(|sample| (0..s).step_by(BLOCK).map(move |s0| (sample, s0)))
        .collect();
    let pass = Pass { x, targets, spec };
    let partials: Vec<Vec<f64>> = match activations {
        // Blocks in the same order as `blocks`.
        Some(out) => class_row_blocks(out, c, s)
            .into_par_iter()
            .map(|(sample, s0, mut runs)| vectorized(&pass, Sums(sample, s0, Some(&mut runs))))
            .collect(),
        None => blocks
            .par_iter()
            .map(|&(sample, s0)| vectorized(&pass, Sums(sample, s0, None)))
            .collect(),
    };
    let mut stats = vec![0.0f64; n * 3 * c];
    for (&(sample, _), partial) in blocks.iter().zip(&partials) {
        for (total, part) in stats[sample * 3 * c..][..3 * c].iter_mut().zip(partial) {
            *total += part;
        }
    }
    stats.into_iter().map(|v| v as f32).collect()
}

/// `∂L/∂x` `[N, C, S]` from the upstream gradient `[N, 3, C]` of the statistics (the `T` part
/// is not used: targets take no gradient here), written over the activated input that
/// [`forward`] stored: no activation is computed twice.
pub(crate) fn backward<T: Target>(
    activations: Vec<f32>,
    targets: HostTargets<'_, T>,
    spec: OverlapSpec,
    upstream: &[f32],
) -> Vec<f32> {
    let [_, c, s] = spec.dims;
    let mut grad = activations;
    let pass = Pass {
        x: &[],
        targets,
        spec,
    };
    class_row_blocks(&mut grad, c, s)
        .into_par_iter()
        .for_each(|(sample, s0, mut runs)| {
            vectorized(&pass, Gradient(sample, s0, upstream, &mut runs))
        });
    grad
}

/// What every task of a pass reads.
struct Pass<'a, T> {
    /// The input (forward; the backward pass reads the stored activations instead).
    x: &'a [f32],
    targets: HostTargets<'a, T>,
    spec: OverlapSpec,
}

/// A forward task: the sums `[3·C]` of the pixels of `sample` from `s0` (one block), with
/// their part of each class row of the stored activations where they are kept.
struct Sums<'r, 'a>(usize, usize, Option<&'r mut [&'a mut [f32]]>);

/// A backward task: the gradient of the pixels of `sample` from `s0` into their part of each
/// class row (`runs`, which hold their activations), from the upstream gradient `[N, 3, C]`.
struct Gradient<'u, 'r, 'g>(usize, usize, &'u [f32], &'r mut [&'g mut [f32]]);

impl<T: Target> Kernel<Sums<'_, '_>> for Pass<'_, T> {
    type Output = Vec<f64>;

    #[inline(always)]
    fn run(&self, Sums(sample, s0, mut stored): Sums<'_, '_>) -> Vec<f64> {
        let Pass { x, targets, spec } = *self;
        if spec.activation != Activation::Softmax {
            return self.row_sums(sample, s0, stored);
        }
        let [_, c, _] = spec.dims;
        let mut sums = vec![0.0f64; 3 * c];
        let mut tile = spec.tile(targets);
        let mut scratch = vec![0.0f32; if stored.is_some() { 0 } else { c * TILE }];
        let block_len = BLOCK.min(spec.dims[2] - s0);
        for (t0, len) in tiles(block_len) {
            let mut rows = match stored.as_deref_mut() {
                Some(runs) => TileRows::Stored(runs, t0),
                None => TileRows::Scratch(&mut scratch),
            };
            spec.softmax(x, (sample, s0 + t0, len), &mut rows);
            spec.load_targets(targets, (sample, s0 + t0, len), &mut tile);
            for class in 0..c {
                let a = &*rows.row(class, len);
                let v = &tile.valid;
                let [i, p, t] = match targets {
                    HostTargets::Dense(y) => {
                        let y = spec.target_row(y, sample, class, s0 + t0, len);
                        spec.power.overlap_sums([a, y], |[a, y]| (a, y))
                    }
                    HostTargets::Indices(_) => {
                        let y = tile.members(class);
                        let rows = [a, &v[..len], &y[..len]];
                        spec.power.overlap_sums(rows, |[a, v, y]| (a * v, y))
                    }
                };
                sums[class] += i as f64;
                sums[c + class] += p as f64;
                sums[2 * c + class] += t as f64;
            }
        }
        sums
    }
}

impl<T: Target> Pass<'_, T> {
    /// [`Sums`] with an elementwise activation (sigmoid or none): each class row on its own,
    /// one loop per tile activating, storing and summing, without the softmax's tile.
    #[inline(always)]
    fn row_sums(
        &self,
        sample: usize,
        s0: usize,
        mut stored: Option<&mut [&mut [f32]]>,
    ) -> Vec<f64> {
        let Pass { x, targets, spec } = *self;
        let [_, c, s] = spec.dims;
        let block_len = BLOCK.min(s - s0);
        let mut sums = vec![0.0f64; 3 * c];
        let mut scratch = [0.0f32; ROW_TILE];
        // Index targets: each pixel's membership `(v, y)` (see [`membership`]).
        let (mut valid, mut member) = ([0.0f32; ROW_TILE], [0.0f32; ROW_TILE]);
        for class in 0..c {
            let x = &x[(sample * c + class) * s + s0..][..block_len];
            for (t0, len) in tiles_of(block_len, ROW_TILE) {
                let a = match stored.as_deref_mut() {
                    Some(runs) => &mut runs[class][t0..t0 + len],
                    None => &mut scratch[..len],
                };
                spec.activate(&x[t0..t0 + len], a);
                let [i, p, t] = match targets {
                    HostTargets::Dense(y) => {
                        let y = spec.target_row(y, sample, class, s0 + t0, len);
                        spec.power.overlap_sums([a, y], |[a, y]| (a, y))
                    }
                    HostTargets::Indices(t) => {
                        let t = &t[sample * s + s0 + t0..][..len];
                        let (v, y) = (&mut valid[..len], &mut member[..len]);
                        for ((v, y), &t) in v.iter_mut().zip(&mut *y).zip(t) {
                            (*v, *y) = membership(t.into(), class, c);
                        }
                        spec.power.overlap_sums([a, v, y], |[a, v, y]| (a * v, y))
                    }
                };
                sums[class] += i as f64;
                sums[c + class] += p as f64;
                sums[2 * c + class] += t as f64;
            }
        }
        sums
    }

    /// [`Gradient`] with an elementwise activation: each class row on its own, written over
    /// its stored activations.
    #[inline(always)]
    fn row_gradient(&self, sample: usize, s0: usize, upstream: &[f32], runs: &mut [&mut [f32]]) {
        let Pass { targets, spec, .. } = *self;
        let [_, c, s] = spec.dims;
        let mut g = [0.0f32; ROW_TILE];
        let mut masked = [0.0f32; ROW_TILE];
        for (class, run) in runs.iter_mut().enumerate() {
            let g_i = upstream[sample * 3 * c + class];
            let g_p = upstream[sample * 3 * c + c + class];
            for (t0, len) in tiles_of(run.len(), ROW_TILE) {
                let a = &mut run[t0..t0 + len];
                // `g = ∂L/∂a`.
                let g = &mut g[..len];
                match targets {
                    HostTargets::Dense(y) => {
                        let y = spec.target_row(y, sample, class, s0 + t0, len);
                        spec.power.slopes(a, g);
                        for (g, &y) in g.iter_mut().zip(y) {
                            *g = g_p * *g + g_i * y;
                        }
                    }
                    HostTargets::Indices(t) => {
                        let t = &t[sample * s + s0 + t0..][..len];
                        for ((masked, &a), &t) in masked.iter_mut().zip(&*a).zip(t) {
                            *masked = a * membership(t.into(), class, c).0;
                        }
                        spec.power.slopes(&masked[..len], g);
                        for (g, &t) in g.iter_mut().zip(t) {
                            let (v, y) = membership(t.into(), class, c);
                            *g = g_p * *g * v + g_i * y;
                        }
                    }
                }
                spec.deactivate(a, g);
            }
        }
    }
}

/// `(v, y)` of a pixel with class index `t` for class `class` of `c`: whether it counts
/// (`t` in `[0, c)`) and whether it is of the class, as `0.0`/`1.0`.
#[inline(always)]
fn membership(t: i64, class: usize, c: usize) -> (f32, f32) {
    let counts = (0..c as i64).contains(&t);
    (
        if counts { 1.0 } else { 0.0 },
        if t == class as i64 { 1.0 } else { 0.0 },
    )
}

impl OverlapSpec {
    /// The `len` dense targets of `class` in `sample` from pixel `s0`.
    #[inline(always)]
    fn target_row<'y>(
        &self,
        y: &'y [f32],
        sample: usize,
        class: usize,
        s0: usize,
        len: usize,
    ) -> &'y [f32] {
        let [_, c, s] = self.dims;
        &y[(sample * c + class) * s + s0..][..len]
    }

    /// `a = act(x)` for an elementwise activation (sigmoid or none).
    #[inline(always)]
    fn activate(&self, x: &[f32], a: &mut [f32]) {
        if self.activation == Activation::Sigmoid {
            for (a, &x) in a.iter_mut().zip(x) {
                *a = sigmoid(x);
            }
        } else {
            a.copy_from_slice(x);
        }
    }

    /// `a = g·act'(x)` over the activations `a` (sigmoid: `g·a·(1 − a)`; none: `g`).
    #[inline(always)]
    fn deactivate(&self, a: &mut [f32], g: &[f32]) {
        if self.activation == Activation::Sigmoid {
            for (a, &g) in a.iter_mut().zip(g) {
                *a = g * *a * (1.0 - *a);
            }
        } else {
            a.copy_from_slice(g);
        }
    }
}

impl<T: Target> Kernel<Gradient<'_, '_, '_>> for Pass<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(&self, Gradient(sample, s0, upstream, runs): Gradient<'_, '_, '_>) {
        let Pass { targets, spec, .. } = *self;
        if spec.activation != Activation::Softmax {
            return self.row_gradient(sample, s0, upstream, runs);
        }
        let [_, c, _] = spec.dims;
        let g_i = &upstream[sample * 3 * c..][..c];
        let g_p = &upstream[sample * 3 * c + c..][..c];
        let mut tile = spec.tile(targets);
        let mut u = vec![0.0f32; c * TILE];
        // Each row's activations are read in place and overwritten by its gradient last.
        for (t0, len) in tiles(runs[0].len()) {
            spec.load_targets(targets, (sample, s0 + t0, len), &mut tile);
            for class in 0..c {
                let a = &runs[class][t0..t0 + len];
                let u = &mut u[class * TILE..][..len];
                let v = &tile.valid[..len];
                let mut av = [0.0f32; TILE];
                for ((av, &a), &v) in av.iter_mut().zip(a).zip(v) {
                    *av = a * v;
                }
                spec.power.slopes(&av[..len], u);
                for (u, &v) in u.iter_mut().zip(v) {
                    *u *= v * g_p[class];
                }
                let members;
                let y = match targets {
                    HostTargets::Dense(y) => spec.target_row(y, sample, class, s0 + t0, len),
                    HostTargets::Indices(_) => {
                        members = tile.members(class);
                        &members[..len]
                    }
                };
                for (u, &y) in u.iter_mut().zip(y) {
                    *u += g_i[class] * y;
                }
            }
            let mut dot = [0.0f32; TILE];
            for class in 0..c {
                let a = &runs[class][t0..t0 + len];
                let u = &u[class * TILE..][..len];
                for j in 0..len {
                    dot[j] += a[j] * u[j];
                }
            }
            for (class, run) in runs.iter_mut().enumerate() {
                let u = &u[class * TILE..][..len];
                let a = &mut run[t0..t0 + len];
                for j in 0..len {
                    a[j] *= u[j] - dot[j];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both passes give the same bits at the baseline instruction set as dispatched
    /// ([`super::super::fast_math::vectorized`]): each activation, index and dense targets,
    /// powers 1, 2 and 1.5, a whole block and a part one.
    #[test]
    fn the_passes_do_not_depend_on_the_instruction_set() {
        use super::super::fast_math::{bits, dispatched_and_baseline};
        let (n, c, s) = (2, 3, BLOCK + 70);
        let x: Vec<f32> = (0..n * c * s)
            .map(|i| ((i * 7919) % 1013) as f32 * 0.01 - 5.0)
            .collect();
        let labels: Vec<i64> = (0..n * s).map(|i| [0, 2, 255, 1][i % 4]).collect();
        let dense: Vec<f32> = (0..n * c * s).map(|i| [0.0, 1.0, 0.4][i % 3]).collect();
        let upstream: Vec<f32> = (0..n * 3 * c).map(|i| 0.1 * i as f32 - 0.7).collect();
        for activation in [Activation::Softmax, Activation::Sigmoid, Activation::None] {
            for power in [1.0, 2.0, 1.5].map(Power::new) {
                let spec = OverlapSpec {
                    dims: [n, c, s],
                    activation,
                    power,
                };
                for targets in [HostTargets::Indices(&labels), HostTargets::Dense(&dense)] {
                    let [dispatched, baseline] = dispatched_and_baseline(|| {
                        let mut stored = vec![0.0; x.len()];
                        let stats = forward(&x, targets, spec, Some(&mut stored));
                        let grad = backward(stored, targets, spec, &upstream);
                        (bits(&stats), bits(&grad))
                    });
                    assert!(dispatched == baseline, "{activation:?}, {power:?}");
                }
            }
        }
    }

    /// Two samples, two classes, three pixels, no activation: the sums by hand (the same case
    /// as the generic path's test in `functional::overlap`).
    #[test]
    fn statistics_by_hand() {
        let x = [0.5, 1.0, 0.0, 0.5, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0];
        let labels: [i64; 6] = [0, 1, 255, 1, 1, 0];
        let spec = OverlapSpec {
            dims: [2, 2, 3],
            activation: Activation::None,
            power: Power::new(2.0),
        };
        let mut stored = vec![f32::NAN; x.len()];
        let stats = forward(&x, HostTargets::Indices(&labels), spec, Some(&mut stored));
        assert_eq!(stored, x, "no activation: the input itself is kept");
        assert_eq!(
            stats,
            forward(&x, HostTargets::Indices(&labels), spec, None)
        );
        // Rows: sample 0 (I, P, T), then sample 1.
        assert_eq!(
            stats,
            [0.5, 0.0, 1.25, 0.25, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0, 1.0, 2.0]
        );
    }
}
