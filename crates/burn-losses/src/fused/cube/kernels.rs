//! The CubeCL kernels (WGSL on wgpu; the same source compiles for CUDA and ROCm): the formulas
//! of `fused/softmax_ce.rs` and `fused/overlap.rs`, one thread per pixel (or, for the overlap
//! sums, per sample, class and lane), over contiguous `[N, C, S]` tensors indexed linearly.
//!
//! WGSL has neither `-inf` literals nor f32 atomics: maxima start from the first class, and
//! the overlap sums are written per lane and summed by a second launch.

use cubecl::prelude::*;

/// Below this, `x^p` (`p ∉ {1, 2}`) is `TINY^p` with a zero derivative, as on the host.
const TINY: f32 = 1.084_202_2e-19;

/// `max_k x[base + k·s]` over the `c` classes of a pixel.
#[cube]
fn pixel_max<F: Float>(x: &Tensor<F>, base: usize, s: usize, c: usize) -> F {
    let mut m = x[base];
    for k in 1..c {
        m = F::max(m, x[base + k * s]);
    }
    m
}

/// `ln Σ_k e^(x[base + k·s] − m)`.
#[cube]
fn pixel_log_sum<F: Float>(x: &Tensor<F>, base: usize, s: usize, c: usize, m: F) -> F {
    let mut sum = F::new(0.0);
    for k in 0..c {
        sum += F::exp(x[base + k * s] - m);
    }
    F::ln(sum)
}

/// The class of target `t` if it counts, else `classes`; `ignore_class` is `ignore_index`
/// where that lies in `[0, C)`, `classes` otherwise.
#[cube]
fn class_of<I: Int>(t: I, classes: u32, ignore_class: u32) -> u32 {
    let mut y = classes;
    if t >= I::new(0) && t < I::cast_from(classes) {
        let class = u32::cast_from(t);
        if class != ignore_class {
            y = class;
        }
    }
    y
}

/// `x^p` for `x >= 0` (`0` at `x <= 0`, `TINY^p` below `TINY`, for `p ∉ {1, 2}`).
#[cube]
fn power<F: Float>(x: F, p: F) -> F {
    let mut v = F::new(0.0);
    if p == F::new(1.0) {
        v = x;
    } else if p == F::new(2.0) {
        v = x * x;
    } else if x > F::new(0.0) {
        v = F::powf(F::max(x, F::new(TINY)), p);
    }
    v
}

/// `d x^p / dx` with the rules of [`power`].
#[cube]
fn power_slope<F: Float>(x: F, p: F) -> F {
    let mut d = F::new(0.0);
    if p == F::new(1.0) {
        d = F::new(1.0);
    } else if p == F::new(2.0) {
        d = F::new(2.0) * x;
    } else if x >= F::new(TINY) {
        d = p * F::powf(x, p) / x;
    }
    d
}

/// `Σ_k w_k`.
#[cube]
fn weight_sum<F: Float>(weights: &Tensor<F>, c: usize) -> F {
    let mut total = F::new(0.0);
    for k in 0..c {
        total += weights[k];
    }
    total
}

/// Whether target `t` is outside `[0, C)` without being `ignore_index`: with `compare_ignore`,
/// `outside_ignore` is `ignore_index`, which lies outside `[0, C)` and within the targets'
/// type; without, no out-of-range target can equal it.
#[cube]
fn is_out_of_range<I: Int>(
    t: I,
    classes: u32,
    #[comptime] outside_ignore: i64,
    #[comptime] compare_ignore: bool,
) -> bool {
    let mut bad = t < I::new(0) || t >= I::cast_from(classes);
    if compare_ignore {
        bad = bad && t != I::new(outside_ignore);
    }
    bad
}

/// A pixel's logits `x[base + k·s]` with their max `m` and `ln Σ_k e^(x_k − m)`.
#[derive(CubeType, Clone, Copy)]
pub(crate) struct Row<F: Float> {
    base: usize,
    stride: usize,
    m: F,
    ls: F,
}

#[cube]
impl<F: Float> Row<F> {
    /// Pixel `pixel` (of `N·S`) of `[N, C, S]` logits.
    fn load(x: &Tensor<F>, pixel: usize, c: usize, s: usize) -> Row<F> {
        let base = (pixel / s) * c * s + pixel % s;
        let m = pixel_max::<F>(x, base, s, c);
        Row::<F> {
            base,
            stride: s,
            m,
            ls: pixel_log_sum::<F>(x, base, s, c, m),
        }
    }

    /// The index of class `k`'s element.
    fn at(&self, k: usize) -> usize {
        self.base + k * self.stride
    }

    /// `log p_k = (x_k − m) − ln Σ e^(x − m)`.
    fn log_p(&self, x: &Tensor<F>, k: usize) -> F {
        (x[self.at(k)] - self.m) - self.ls
    }
}

/// Cross-entropy (`params = [1 − ε, ε/C, γ]`) or, with `focal` (`γ > 0`), focal loss of one
/// pixel per thread: its loss and its weight in the mean (`w_y`, or `1` with
/// `unit_denominator`), `0` where the target does not count, `−1` where it is out of range
/// (counted by [`reduce_class_losses`]).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn class_forward<F: Float, I: Int>(
    logits: &Tensor<F>,
    targets: &Tensor<I>,
    weights: &Tensor<F>,
    params: &Tensor<F>,
    losses: &mut Tensor<F>,
    denominators: &mut Tensor<F>,
    classes: u32,
    pixels: u32,
    ignore_class: u32,
    #[comptime] focal: bool,
    #[comptime] unit_denominator: bool,
    #[comptime] outside_ignore: i64,
    #[comptime] compare_ignore: bool,
    #[define(F, I)] _dtypes: [StorageType; 2],
) {
    let pixel = ABSOLUTE_POS;
    if pixel >= losses.len() {
        terminate!();
    }
    let (c, s) = (classes as usize, pixels as usize);
    let row = Row::<F>::load(logits, pixel, c, s);
    let y = class_of::<I>(targets[pixel], classes, ignore_class);
    let mut loss = F::new(0.0);
    let mut denominator = F::new(0.0);
    if y < classes {
        let y = y as usize;
        let w = weights[y];
        let log_p = row.log_p(logits, y);
        if focal {
            let q = F::new(1.0) - F::exp(log_p);
            loss = w * power::<F>(q, params[2]) * (F::new(0.0) - log_p);
        } else {
            let mut smooth = F::new(0.0);
            if params[1] > F::new(0.0) {
                for k in 0..c {
                    smooth += weights[k] * (F::new(0.0) - row.log_p(logits, k));
                }
            }
            loss = params[0] * w * (F::new(0.0) - log_p) + params[1] * smooth;
        }
        denominator = w;
        if unit_denominator {
            denominator = F::new(1.0);
        }
    } else if is_out_of_range::<I>(targets[pixel], classes, outside_ignore, compare_ignore) {
        denominator = F::new(-1.0);
    }
    losses[pixel] = loss;
    denominators[pixel] = denominator;
}

/// `∂L/∂x` of [`class_forward`] from the upstream gradient of the losses, one pixel per thread:
/// `a·(p_c − δ_cy) + b·(W·p_c − w_c)`. Each pixel's upstream gradient is `upstream[pixel]`, or
/// with `uniform` (a reduced loss) `upstream[0]`, times `scale[0]` (`1/Σ d` for a mean).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn class_backward<F: Float, I: Int>(
    logits: &Tensor<F>,
    targets: &Tensor<I>,
    weights: &Tensor<F>,
    params: &Tensor<F>,
    scale: &Tensor<F>,
    upstream: &Tensor<F>,
    grad: &mut Tensor<F>,
    classes: u32,
    pixels: u32,
    ignore_class: u32,
    #[comptime] focal: bool,
    #[comptime] uniform: bool,
    #[define(F, I)] _dtypes: [StorageType; 2],
) {
    let pixel = ABSOLUTE_POS;
    if pixel >= targets.len() {
        terminate!();
    }
    let (c, s) = (classes as usize, pixels as usize);
    let row = Row::<F>::load(logits, pixel, c, s);
    let y = class_of::<I>(targets[pixel], classes, ignore_class);
    let mut g = upstream[0];
    if !uniform {
        g = upstream[pixel * upstream.stride(0)];
    }
    g *= scale[0];
    let mut a = F::new(0.0);
    let mut b = F::new(0.0);
    let mut total = F::new(0.0);
    if y < classes {
        let w = weights[y as usize];
        if focal {
            let log_p = row.log_p(logits, y as usize);
            let p = F::exp(log_p);
            let gamma = params[2];
            let q = F::new(1.0) - p;
            a = g * w * (power::<F>(q, gamma) - power_slope::<F>(q, gamma) * p * log_p);
        } else {
            a = g * params[0] * w;
            b = g * params[1];
            if params[1] > F::new(0.0) {
                total = weight_sum::<F>(weights, c);
            }
        }
    }
    for k in 0..c {
        let p = F::exp(row.log_p(logits, k));
        let mut d = a * p + b * (total * p - weights[k]);
        if k == y as usize {
            d -= a;
        }
        grad[row.at(k)] = d;
    }
}

/// Threads of [`reduce_class_losses`]' one cube (a power of two, within every device's limit;
/// the launch's cube size).
pub(crate) const REDUCE_THREADS: usize = 128;

/// The reduced loss of [`class_forward`]'s outputs, by one cube: `Σ l` (`scale = 1`), or with
/// `mean` `Σ l / Σ d` (`scale = 1/Σ d`; both `0` where `Σ d = 0`, an all-ignored batch); and
/// the number of out-of-range targets (`d < 0`).
#[cube(launch)]
pub(crate) fn reduce_class_losses<F: Float>(
    losses: &Tensor<F>,
    denominators: &Tensor<F>,
    loss: &mut Tensor<F>,
    scale: &mut Tensor<F>,
    out_of_range: &mut Tensor<F>,
    #[comptime] mean: bool,
    #[define(F)] _dtype: StorageType,
) {
    let unit = UNIT_POS as usize;
    let threads = CUBE_DIM as usize;
    let mut l = F::new(0.0);
    let mut d = F::new(0.0);
    let mut bad = F::new(0.0);
    let mut i = unit;
    while i < losses.len() {
        l += losses[i];
        let weight = denominators[i];
        if weight < F::new(0.0) {
            bad += F::new(1.0);
        } else {
            d += weight;
        }
        i += threads;
    }
    let mut ls = SharedMemory::<F>::new(REDUCE_THREADS);
    let mut ds = SharedMemory::<F>::new(REDUCE_THREADS);
    let mut bs = SharedMemory::<F>::new(REDUCE_THREADS);
    ls[unit] = l;
    ds[unit] = d;
    bs[unit] = bad;
    sync_cube();
    let mut half = threads / 2;
    while half > 0 {
        if unit < half {
            let (l_other, d_other, b_other) = (ls[unit + half], ds[unit + half], bs[unit + half]);
            ls[unit] += l_other;
            ds[unit] += d_other;
            bs[unit] += b_other;
        }
        sync_cube();
        half /= 2;
    }
    if unit == 0 {
        let total = ls[0];
        let mut out = total;
        let mut factor = F::new(1.0);
        if mean {
            let weight = ds[0];
            out = F::new(0.0);
            factor = F::new(0.0);
            if weight != F::new(0.0) {
                out = total / weight;
                factor = F::new(1.0) / weight;
            }
        }
        loss[0] = out;
        scale[0] = factor;
        out_of_range[0] = bs[0];
    }
}

/// Cross-entropy against probability targets (`params = [1 − ε, ε/C]`), one pixel per thread:
/// `Σ_c w_c·t'_c·(−log p_c)` with `t' = (1 − ε)·t + ε/C`.
#[cube(launch)]
pub(crate) fn soft_forward<F: Float>(
    logits: &Tensor<F>,
    targets: &Tensor<F>,
    weights: &Tensor<F>,
    params: &Tensor<F>,
    losses: &mut Tensor<F>,
    classes: u32,
    pixels: u32,
    #[define(F)] _dtype: StorageType,
) {
    let pixel = ABSOLUTE_POS;
    if pixel >= losses.len() {
        terminate!();
    }
    let (c, s) = (classes as usize, pixels as usize);
    let row = Row::<F>::load(logits, pixel, c, s);
    let mut loss = F::new(0.0);
    for k in 0..c {
        let wt = weights[k] * (params[0] * targets[row.at(k)] + params[1]);
        loss += wt * (F::new(0.0) - row.log_p(logits, k));
    }
    losses[pixel] = loss;
}

/// `∂L/∂x` of [`soft_forward`]: `g·(A·p_c − w_c·t'_c)` with `A = Σ_c w_c·t'_c`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn soft_backward<F: Float>(
    logits: &Tensor<F>,
    targets: &Tensor<F>,
    weights: &Tensor<F>,
    params: &Tensor<F>,
    upstream: &Tensor<F>,
    grad: &mut Tensor<F>,
    classes: u32,
    pixels: u32,
    #[define(F)] _dtype: StorageType,
) {
    let (c, s) = (classes as usize, pixels as usize);
    let pixel = ABSOLUTE_POS;
    if pixel * c >= grad.len() {
        terminate!();
    }
    let row = Row::<F>::load(logits, pixel, c, s);
    let g = upstream[pixel * upstream.stride(0)];
    let mut total = F::new(0.0);
    for k in 0..c {
        total += weights[k] * (params[0] * targets[row.at(k)] + params[1]);
    }
    for k in 0..c {
        let p = F::exp(row.log_p(logits, k));
        let wt = weights[k] * (params[0] * targets[row.at(k)] + params[1]);
        grad[row.at(k)] = g * (total * p - wt);
    }
}

/// The activated input of class `k` at the pixel at `base`; `(m, ls)` are the pixel's max
/// and log-sum-exp (used by softmax only).
#[cube]
fn activated<F: Float>(
    x: F,
    m: F,
    ls: F,
    #[comptime] softmax: bool,
    #[comptime] sigmoid: bool,
) -> F {
    let mut a = x;
    if softmax {
        a = F::exp((x - m) - ls);
    } else if sigmoid {
        a = F::new(1.0) / (F::new(1.0) + F::exp(F::new(0.0) - x));
    }
    a
}

/// The pixel's max and log-sum-exp where softmax needs them (zeros otherwise).
#[cube]
fn softmax_stats<F: Float>(
    x: &Tensor<F>,
    base: usize,
    s: usize,
    c: usize,
    #[comptime] softmax: bool,
) -> PixelStats<F> {
    let mut stats = PixelStats::<F> {
        m: F::new(0.0),
        ls: F::new(0.0),
    };
    if softmax {
        stats.m = pixel_max::<F>(x, base, s, c);
        stats.ls = pixel_log_sum::<F>(x, base, s, c, stats.m);
    }
    stats
}

/// A pixel's max and log-sum-exp.
#[derive(CubeType, Clone, Copy)]
pub(crate) struct PixelStats<F: Float> {
    m: F,
    ls: F,
}

/// Running `I`, `P`, `T` sums of one thread.
#[derive(CubeType, Clone, Copy)]
pub(crate) struct Sums<F: Float> {
    i: F,
    p: F,
    t: F,
}

#[cube]
impl<F: Float> Sums<F> {
    fn zero() -> Self {
        Sums::<F> {
            i: F::new(0.0),
            p: F::new(0.0),
            t: F::new(0.0),
        }
    }

    /// Adds a pixel with activated input `a` and target `t`.
    fn add(&mut self, a: F, t: F, p: F) {
        self.i += a * t;
        self.p += power::<F>(a, p);
        self.t += power::<F>(t, p);
    }

    /// Writes the sums of thread `unit` (`[N, 3, C, L]`, `L = lanes`).
    fn write(self, partials: &mut Tensor<F>, unit: usize, c: usize, lanes: usize) {
        let (sample, class, lane) = ((unit / lanes) / c, (unit / lanes) % c, unit % lanes);
        let at = (sample * 3 * c + class) * lanes + lane;
        partials[at] = self.i;
        partials[at + c * lanes] = self.p;
        partials[at + 2 * c * lanes] = self.t;
    }
}

/// The overlap sums `I`, `P`, `T` (`params = [p]`) against dense targets, per sample, class
/// and lane (`[N, 3, C, L]`): lane `l` takes pixels `l, l + L, ..`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn overlap_dense<F: Float>(
    x: &Tensor<F>,
    y: &Tensor<F>,
    params: &Tensor<F>,
    partials: &mut Tensor<F>,
    classes: u32,
    pixels: u32,
    lanes: u32,
    #[comptime] softmax: bool,
    #[comptime] sigmoid: bool,
    #[define(F)] _dtype: StorageType,
) {
    let unit = ABSOLUTE_POS;
    let (c, s, l) = (classes as usize, pixels as usize, lanes as usize);
    if unit * 3 >= partials.len() {
        terminate!();
    }
    let (sample, class) = ((unit / l) / c, (unit / l) % c);
    let mut sums = Sums::<F>::zero();
    let mut j = unit % l;
    while j < s {
        let base = sample * c * s + j;
        let stats = softmax_stats::<F>(x, base, s, c, softmax);
        let a = activated::<F>(x[base + class * s], stats.m, stats.ls, softmax, sigmoid);
        sums.add(a, y[base + class * s], params[0]);
        j += l;
    }
    sums.write(partials, unit, c, l);
}

/// The overlap sums against class indices: a pixel whose index is outside `[0, C)` leaves
/// every sum.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn overlap_indices<F: Float, I: Int>(
    x: &Tensor<F>,
    targets: &Tensor<I>,
    params: &Tensor<F>,
    partials: &mut Tensor<F>,
    classes: u32,
    pixels: u32,
    lanes: u32,
    #[comptime] softmax: bool,
    #[comptime] sigmoid: bool,
    #[define(F, I)] _dtypes: [StorageType; 2],
) {
    let unit = ABSOLUTE_POS;
    let (c, s, l) = (classes as usize, pixels as usize, lanes as usize);
    if unit * 3 >= partials.len() {
        terminate!();
    }
    let (sample, class) = ((unit / l) / c, (unit / l) % c);
    let mut sums = Sums::<F>::zero();
    let mut j = unit % l;
    while j < s {
        let y = class_of::<I>(targets[sample * s + j], classes, classes);
        if y < classes {
            let base = sample * c * s + j;
            let stats = softmax_stats::<F>(x, base, s, c, softmax);
            let a = activated::<F>(x[base + class * s], stats.m, stats.ls, softmax, sigmoid);
            sums.add(a, one_hot::<F>(y as usize, class), params[0]);
        }
        j += l;
    }
    sums.write(partials, unit, c, l);
}

/// `1` where `y` is `class`, `0` otherwise.
#[cube]
fn one_hot<F: Float>(y: usize, class: usize) -> F {
    let mut t = F::new(0.0);
    if y == class {
        t = F::new(1.0);
    }
    t
}

/// Where `∂L/∂I_k` and `∂L/∂P_k` of a sample lie in the upstream gradient `[N, 3, C]`.
#[derive(CubeType, Clone, Copy)]
pub(crate) struct OverlapUpstream {
    i: usize,
    p: usize,
    class: usize,
}

#[cube]
impl OverlapUpstream {
    fn new<F: Float>(upstream: &Tensor<F>, sample: usize) -> OverlapUpstream {
        let i = sample * upstream.stride(0);
        OverlapUpstream {
            i,
            p: i + upstream.stride(1),
            class: upstream.stride(2),
        }
    }

    /// `u_k = ∂L/∂I_k·t + ∂L/∂P_k·p·a^(p−1)` for class `k` with activated input `a`, target `t`.
    fn u<F: Float>(&self, upstream: &Tensor<F>, k: usize, a: F, t: F, p: F) -> F {
        upstream[self.i + k * self.class] * t
            + upstream[self.p + k * self.class] * power_slope::<F>(a, p)
    }
}

/// The input gradient of class `k` from `u_k`, the activated input `a_k` and (softmax)
/// `dot = Σ_k a_k·u_k`.
#[cube]
fn input_gradient<F: Float>(
    u: F,
    a: F,
    dot: F,
    #[comptime] softmax: bool,
    #[comptime] sigmoid: bool,
) -> F {
    let mut d = u;
    if softmax {
        d = a * (u - dot);
    } else if sigmoid {
        d = u * a * (F::new(1.0) - a);
    }
    d
}

/// `∂L/∂x` of [`overlap_dense`] from `∂L/∂I` and `∂L/∂P` (`upstream`, `[N, 3, C]`), one
/// pixel per thread: `u_c = ∂L/∂I_c·y_c + ∂L/∂P_c·p·a_c^(p−1)` through the activation.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn overlap_dense_backward<F: Float>(
    x: &Tensor<F>,
    y: &Tensor<F>,
    params: &Tensor<F>,
    upstream: &Tensor<F>,
    grad: &mut Tensor<F>,
    classes: u32,
    pixels: u32,
    #[comptime] softmax: bool,
    #[comptime] sigmoid: bool,
    #[define(F)] _dtype: StorageType,
) {
    let (c, s) = (classes as usize, pixels as usize);
    let pixel = ABSOLUTE_POS;
    if pixel * c >= grad.len() {
        terminate!();
    }
    let sample = pixel / s;
    let base = sample * c * s + pixel % s;
    let g = OverlapUpstream::new::<F>(upstream, sample);
    let stats = softmax_stats::<F>(x, base, s, c, softmax);
    let mut dot = F::new(0.0);
    if softmax {
        for k in 0..c {
            let a = activated::<F>(x[base + k * s], stats.m, stats.ls, softmax, sigmoid);
            dot += a * g.u::<F>(upstream, k, a, y[base + k * s], params[0]);
        }
    }
    for k in 0..c {
        let a = activated::<F>(x[base + k * s], stats.m, stats.ls, softmax, sigmoid);
        let u = g.u::<F>(upstream, k, a, y[base + k * s], params[0]);
        grad[base + k * s] = input_gradient::<F>(u, a, dot, softmax, sigmoid);
    }
}

/// `∂L/∂x` of [`overlap_indices`]: as [`overlap_dense_backward`] with one-hot targets, and
/// `0` at pixels whose index is outside `[0, C)`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn overlap_indices_backward<F: Float, I: Int>(
    x: &Tensor<F>,
    targets: &Tensor<I>,
    params: &Tensor<F>,
    upstream: &Tensor<F>,
    grad: &mut Tensor<F>,
    classes: u32,
    pixels: u32,
    #[comptime] softmax: bool,
    #[comptime] sigmoid: bool,
    #[define(F, I)] _dtypes: [StorageType; 2],
) {
    let (c, s) = (classes as usize, pixels as usize);
    let pixel = ABSOLUTE_POS;
    if pixel >= targets.len() {
        terminate!();
    }
    let sample = pixel / s;
    let base = sample * c * s + pixel % s;
    let y = class_of::<I>(targets[pixel], classes, classes);
    if y >= classes {
        for k in 0..c {
            grad[base + k * s] = F::new(0.0);
        }
        terminate!();
    }
    let y = y as usize;
    let g = OverlapUpstream::new::<F>(upstream, sample);
    let stats = softmax_stats::<F>(x, base, s, c, softmax);
    let mut dot = F::new(0.0);
    if softmax {
        for k in 0..c {
            let a = activated::<F>(x[base + k * s], stats.m, stats.ls, softmax, sigmoid);
            dot += a * g.u::<F>(upstream, k, a, one_hot::<F>(y, k), params[0]);
        }
    }
    for k in 0..c {
        let a = activated::<F>(x[base + k * s], stats.m, stats.ls, softmax, sigmoid);
        let u = g.u::<F>(upstream, k, a, one_hot::<F>(y, k), params[0]);
        grad[base + k * s] = input_gradient::<F>(u, a, dot, softmax, sigmoid);
    }
}

/// One element of an element-wise sigmoid loss: its loss, `∂l/∂x`, and whether it counts.
#[derive(CubeType, Clone, Copy)]
struct Element<F: Float> {
    loss: F,
    derivative: F,
    counts: F,
}

/// BCE with logits or, with `focal`, the sigmoid focal loss of logit `x` and target `t`, the
/// formulas of `fused/sigmoid_ce.rs`: channel weights `w`, `pw`; `params = [ε, ignore_value,
/// has_ignore, α, has_α, γ]` (the flags `0` or `1`); `powered`: `γ > 0`.
#[cube]
fn sigmoid_element<F: Float>(
    x: F,
    t: F,
    w: F,
    pw: F,
    params: &Tensor<F>,
    #[comptime] focal: bool,
    #[comptime] powered: bool,
) -> Element<F> {
    let one = F::new(1.0);
    let e = F::exp(F::new(0.0) - F::abs(x));
    // `log1p(e)` with Kahan's correction; `σ` and `1 − σ` each without cancellation.
    let u = one + e;
    let rounded = u - one;
    let mut log1p = e;
    if rounded != F::new(0.0) {
        log1p = F::ln(u) * (e / rounded);
    }
    let sp = F::max(F::new(0.0) - x, F::new(0.0)) + log1p;
    let r = one / u;
    let positive_x = x >= F::new(0.0);
    let mut sigma = e * r;
    let mut one_minus_sigma = r;
    if positive_x {
        sigma = r;
        one_minus_sigma = e * r;
    }
    let mut out = Element::<F> {
        loss: F::new(0.0),
        derivative: F::new(0.0),
        counts: one,
    };
    if focal {
        let mut alpha_t = one;
        if params[4] != F::new(0.0) {
            alpha_t = params[3] * t + (one - params[3]) * (one - t);
        }
        let ce = (one - t) * x + sp;
        let mut sigma_minus_t = sigma - t;
        if positive_x {
            sigma_minus_t = (one - t) - one_minus_sigma;
        }
        let mut q_pow = one;
        let mut slope = F::new(0.0);
        if powered {
            let q = sigma * (one - t) + one_minus_sigma * t;
            q_pow = power::<F>(q, params[5]);
            slope = power_slope::<F>(q, params[5]);
        }
        let dq = sigma * one_minus_sigma * (one - F::new(2.0) * t);
        out.loss = alpha_t * ce * q_pow;
        out.derivative = alpha_t * (sigma_minus_t * q_pow + ce * slope * dq);
    } else {
        let eps = params[0];
        let t_s = t * (one - eps) + eps / F::new(2.0);
        let positive = one + (pw - one) * t_s;
        out.loss = w * ((one - t_s) * x + positive * sp);
        let mut derivative = positive * sigma - pw * t_s;
        if positive_x {
            derivative = (one - t_s) - positive * one_minus_sigma;
        }
        out.derivative = w * derivative;
        if params[2] != F::new(0.0) && t == params[1] {
            out.loss = F::new(0.0);
            out.derivative = F::new(0.0);
            out.counts = F::new(0.0);
        }
    }
    out
}

/// An element-wise sigmoid loss, one element per thread over `[N, C, S]` (channel
/// `(i / S) % C` for `weights` and `pos_weights`): each element's loss and whether it counts
/// (for [`reduce_class_losses`]).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn sigmoid_forward<F: Float>(
    logits: &Tensor<F>,
    targets: &Tensor<F>,
    weights: &Tensor<F>,
    pos_weights: &Tensor<F>,
    params: &Tensor<F>,
    losses: &mut Tensor<F>,
    counts: &mut Tensor<F>,
    classes: u32,
    pixels: u32,
    #[comptime] focal: bool,
    #[comptime] powered: bool,
    #[define(F)] _dtype: StorageType,
) {
    let i = ABSOLUTE_POS;
    if i >= logits.len() {
        terminate!();
    }
    let channel = (i / pixels as usize) % classes as usize;
    let element = sigmoid_element::<F>(
        logits[i],
        targets[i],
        weights[channel],
        pos_weights[channel],
        params,
        focal,
        powered,
    );
    losses[i] = element.loss;
    counts[i] = element.counts;
}

/// `∂L/∂x` of [`sigmoid_forward`]: each element's `∂l/∂x` times its upstream gradient
/// (`upstream[i]`, or with `uniform` `upstream[0]`) times `scale[0]`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn sigmoid_backward<F: Float>(
    logits: &Tensor<F>,
    targets: &Tensor<F>,
    weights: &Tensor<F>,
    pos_weights: &Tensor<F>,
    params: &Tensor<F>,
    scale: &Tensor<F>,
    upstream: &Tensor<F>,
    grad: &mut Tensor<F>,
    classes: u32,
    pixels: u32,
    #[comptime] focal: bool,
    #[comptime] powered: bool,
    #[comptime] uniform: bool,
    #[define(F)] _dtype: StorageType,
) {
    let i = ABSOLUTE_POS;
    if i >= logits.len() {
        terminate!();
    }
    let channel = (i / pixels as usize) % classes as usize;
    let element = sigmoid_element::<F>(
        logits[i],
        targets[i],
        weights[channel],
        pos_weights[channel],
        params,
        focal,
        powered,
    );
    let mut g = upstream[0];
    if !uniform {
        g = upstream[i * upstream.stride(0)];
    }
    grad[i] = element.derivative * g * scale[0];
}

/// One class of one row of [`overlap_score`]: its loss `l`, `∂l/∂(I, P, T)`, its weight in
/// the class mean and its count in an `Exclude` mean's denominator.
#[derive(CubeType, Clone, Copy)]
struct ClassScore<F: Float> {
    loss: F,
    di: F,
    dp: F,
    dt: F,
    weight: F,
    counted: F,
}

/// Class `k`'s statistics `[N, 3, C]` summed over samples `first..last`.
#[cube]
fn pooled<F: Float>(stats: &Tensor<F>, first: usize, last: usize, k: usize, c: usize) -> Sums<F> {
    let mut sums = Sums::<F>::zero();
    for m in first..last {
        let at = m * 3 * c + k;
        sums.i += stats[at];
        sums.p += stats[at + c];
        sums.t += stats[at + 2 * c];
    }
    sums
}

/// The sum over the cube's threads of each one's `value` (`REDUCE_THREADS` of them), valid in
/// thread 0.
#[cube]
fn cube_total<F: Float>(value: F) -> F {
    let unit = UNIT_POS as usize;
    let mut sums = SharedMemory::<F>::new(REDUCE_THREADS);
    sums[unit] = value;
    sync_cube();
    let mut half = CUBE_DIM as usize / 2;
    while half > 0 {
        if unit < half {
            let other = sums[unit + half];
            sums[unit] += other;
        }
        sync_cube();
        half /= 2;
    }
    sums[0]
}

/// Class `k` of the row of samples `first..last` (one, or all of them pooled), the formulas
/// of `fused/score.rs` (`params` as in [`overlap_score`]).
#[cube]
// The compile-time switches stay outer `if`s of their own: CubeCL drops them at expansion.
#[allow(clippy::too_many_arguments, clippy::collapsible_if)]
fn class_score<F: Float>(
    stats: &Tensor<F>,
    weights: &Tensor<F>,
    params: &Tensor<F>,
    first: usize,
    last: usize,
    k: usize,
    c: usize,
    #[comptime] zero_empty: bool,
    #[comptime] exclude_empty: bool,
) -> ClassScore<F> {
    let sums = pooled::<F>(stats, first, last, k, c);
    let (i, p, t) = (sums.i, sums.p, sums.t);
    let numerator = params[0] * i + params[4];
    let denominator = params[1] * i + params[2] * p + params[3] * t + params[5];
    let mut loss = F::new(0.0);
    let mut di = F::new(0.0);
    let mut dp = F::new(0.0);
    let mut dt = F::new(0.0);
    if denominator != F::new(0.0) {
        let ratio = numerator / denominator;
        loss = F::new(1.0) - ratio;
        di = (ratio * params[1] - params[0]) / denominator;
        dp = ratio * params[2] / denominator;
        dt = ratio * params[3] / denominator;
    }
    let included = params[8 + k];
    let mut weight = weights[k] * included;
    let mut counted = included;
    if zero_empty {
        if t == F::new(0.0) {
            weight = F::new(0.0);
        }
    }
    if exclude_empty {
        if t <= F::new(0.0) {
            weight = F::new(0.0);
            counted = F::new(0.0);
        }
    }
    ClassScore::<F> {
        loss,
        di,
        dp,
        dt,
        weight,
        counted,
    }
}

/// Row `first..last` (one sample, or all of them pooled) of a ratio score: the class mean of
/// [`class_score`] to the power `γ`, its slopes written to `slopes` times `scale`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn ratio_row<F: Float>(
    stats: &Tensor<F>,
    weights: &Tensor<F>,
    params: &Tensor<F>,
    slopes: &mut Tensor<F>,
    first: usize,
    last: usize,
    c: usize,
    scale: F,
    #[comptime] zero_empty: bool,
    #[comptime] exclude_empty: bool,
) -> F {
    let mut total = F::new(0.0);
    let mut counted = F::new(0.0);
    for k in 0..c {
        let class = class_score::<F>(
            stats,
            weights,
            params,
            first,
            last,
            k,
            c,
            zero_empty,
            exclude_empty,
        );
        total += class.weight * class.loss;
        counted += class.counted;
    }
    let mut denominator = params[7];
    if exclude_empty {
        denominator = counted;
    }
    let mut value = F::new(0.0);
    let mut factor = F::new(0.0);
    if denominator != F::new(0.0) {
        value = total / denominator;
        factor = scale * power_slope::<F>(value, params[6]) / denominator;
    }
    for k in 0..c {
        let class = class_score::<F>(
            stats,
            weights,
            params,
            first,
            last,
            k,
            c,
            zero_empty,
            exclude_empty,
        );
        let w = factor * class.weight;
        write_slopes::<F>(
            slopes,
            first,
            last,
            k,
            c,
            w * class.di,
            w * class.dp,
            w * class.dt,
        );
    }
    power::<F>(value, params[6])
}

/// Generalized Dice weight `w_c` before the empty-class rule: `included / d` (`0` where `d` is
/// `0`), `d = 1`, `T` or `T²` for `kind = 0, 1, 2` (uniform, simple, square).
#[cube]
fn finite_weight<F: Float>(kind: F, included: F, t: F) -> F {
    let mut d = F::new(1.0);
    if kind == F::new(1.0) {
        d = t;
    } else if kind == F::new(2.0) {
        d = t * t;
    }
    let mut w = F::new(0.0);
    if d != F::new(0.0) {
        w = included / d;
    }
    w
}

/// `w_c` of class `k` with pooled statistics `sums`: [`finite_weight`], and for an empty class
/// (`T = 0`, non-uniform weights) the row's `largest` finite weight times its inclusion.
#[cube]
fn generalized_weight<F: Float>(params: &Tensor<F>, sums: Sums<F>, k: usize, largest: F) -> F {
    let included = params[8 + k];
    let mut w = finite_weight::<F>(params[0], included, sums.t);
    if params[0] != F::new(0.0) && sums.t == F::new(0.0) {
        w += included * largest;
    }
    w
}

/// Row `first..last` of generalized Dice (`params[0]` the weight kind of [`finite_weight`]):
/// `1 − (2·Σ_c w_c·I_c + s_nr) / (Σ_c w_c·(P_c + T_c) + s_dr)`, `0` where the denominator is
/// `0`, the weights carrying no gradient; its slopes written to `slopes` times `scale`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn generalized_row<F: Float>(
    stats: &Tensor<F>,
    params: &Tensor<F>,
    slopes: &mut Tensor<F>,
    first: usize,
    last: usize,
    c: usize,
    scale: F,
) -> F {
    let mut largest = F::new(0.0);
    for k in 0..c {
        let sums = pooled::<F>(stats, first, last, k, c);
        largest = F::max(
            largest,
            finite_weight::<F>(params[0], params[8 + k], sums.t),
        );
    }
    let mut top = F::new(0.0);
    let mut bottom = F::new(0.0);
    for k in 0..c {
        let sums = pooled::<F>(stats, first, last, k, c);
        let w = generalized_weight::<F>(params, sums, k, largest);
        top += w * sums.i;
        bottom += w * (sums.p + sums.t);
    }
    top = F::new(2.0) * top + params[4];
    bottom += params[5];
    let mut row_loss = F::new(0.0);
    let mut ratio = F::new(0.0);
    let mut factor = F::new(0.0);
    if bottom != F::new(0.0) {
        ratio = top / bottom;
        row_loss = F::new(1.0) - ratio;
        factor = scale / bottom;
    }
    for k in 0..c {
        let sums = pooled::<F>(stats, first, last, k, c);
        let w = factor * generalized_weight::<F>(params, sums, k, largest);
        write_slopes::<F>(
            slopes,
            first,
            last,
            k,
            c,
            F::new(-2.0) * w,
            ratio * w,
            ratio * w,
        );
    }
    row_loss
}

/// Class `k`'s slopes `(∂I, ∂P, ∂T)` for every sample of the row `first..last`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn write_slopes<F: Float>(
    slopes: &mut Tensor<F>,
    first: usize,
    last: usize,
    k: usize,
    c: usize,
    di: F,
    dp: F,
    dt: F,
) {
    for m in first..last {
        let at = m * 3 * c + k;
        slopes[at] = di;
        slopes[at + c] = dp;
        slopes[at + 2 * c] = dt;
    }
}

/// A Dice-family loss from the overlap statistics `stats` (`[N, 3, C]`), by one cube (the
/// formulas of `fused/score.rs`; `params = [a, b, u, v, s_nr, s_dr, γ, |I|, included_0, ..]`,
/// with `generalized` the weight kind first and `b, u, v, γ, |I|` and `weights` unused): the
/// loss per row (`[R]`, a sample or with `batch` the pooled batch), or with `reduced` their
/// sum (with `mean` over `R`), and each statistic's slope `∂loss/∂stat` (`[N, 3, C]`) for an
/// upstream gradient of `1`. Each thread takes rows `unit, unit + threads, ..`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn overlap_score<F: Float>(
    stats: &Tensor<F>,
    weights: &Tensor<F>,
    params: &Tensor<F>,
    loss: &mut Tensor<F>,
    slopes: &mut Tensor<F>,
    samples: u32,
    classes: u32,
    #[comptime] generalized: bool,
    #[comptime] batch: bool,
    #[comptime] zero_empty: bool,
    #[comptime] exclude_empty: bool,
    #[comptime] reduced: bool,
    #[comptime] mean: bool,
    #[define(F)] _dtype: StorageType,
) {
    let unit = UNIT_POS as usize;
    let threads = CUBE_DIM as usize;
    let (n, c) = (samples as usize, classes as usize);
    let mut rows = n;
    if batch {
        rows = 1;
    }
    let mut scale = F::new(1.0);
    if mean {
        scale = F::new(1.0) / F::cast_from(rows);
    }
    let mut partial = F::new(0.0);
    let mut row = unit;
    while row < rows {
        let mut first = row;
        let mut last = row + 1;
        if batch {
            first = 0;
            last = n;
        }
        let row_loss = if generalized {
            generalized_row::<F>(stats, params, slopes, first, last, c, scale)
        } else {
            ratio_row::<F>(
                stats,
                weights,
                params,
                slopes,
                first,
                last,
                c,
                scale,
                zero_empty,
                exclude_empty,
            )
        };
        if reduced {
            partial += row_loss;
        } else {
            loss[row] = row_loss;
        }
        row += threads;
    }
    if reduced {
        let total = cube_total::<F>(partial);
        if unit == 0 {
            loss[0] = total * scale;
        }
    }
}

/// `∂L/∂stats` of [`overlap_score`]: each slope times its row's upstream gradient,
/// `upstream[i / block]` (`block`: the statistics per upstream value, all of them for a
/// reduced loss or a pooled row, `3·C` per sample otherwise).
#[cube(launch)]
pub(crate) fn overlap_score_backward<F: Float>(
    slopes: &Tensor<F>,
    upstream: &Tensor<F>,
    grad: &mut Tensor<F>,
    block: u32,
    #[define(F)] _dtype: StorageType,
) {
    let i = ABSOLUTE_POS;
    if i >= slopes.len() {
        terminate!();
    }
    grad[i] = slopes[i] * upstream[i / block as usize];
}
