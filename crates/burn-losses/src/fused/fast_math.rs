//! Branch-free `exp`, `ln` and `x^p` in plain f32 arithmetic, so that the compiler vectorises
//! the kernels' pixel loops (`f32::exp`/`f32::ln` are library calls it cannot vectorise).
//!
//! `exp` and `ln` are Cephes' single-precision polynomials (relative error about 2 ulp over
//! the ranges used here), written with selects instead of branches, each step of the
//! polynomials a fused multiply-add (`f32::mul_add`): one instruction with FMA, ~30 % fewer
//! operations and a shorter dependency chain than a multiply and an add. `mul_add` rounds once
//! on every target, so the results are the same without FMA (an x86-64 older than Haswell or
//! Piledriver, where it is libm's `fmaf`, correct but several times slower).

/// Arguments below this give `exp = 0` (as f32's `exp` underflows to `0` near `-103`; the
/// values between are subnormal and only ever added to sums of order `>= 1`).
const EXP_MIN: f32 = -87.336_55;
/// The largest argument [`exp`] takes, and where [`sigmoid`]'s `e^−x` is clamped
/// (`exp(88) = 1.65e38`, the exponent stays normal).
const EXP_MAX: f32 = 88.0;
/// `ln(f32::MAX)`: above it f32's `exp` is `inf`.
const EXP_OVERFLOW: f32 = 88.722_84;
/// `1.5 · 2^23`: adding it rounds an f32 of magnitude `< 2^22` to an integer held in the low
/// mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// A kernel whose tasks [`vectorized`] runs: `run`, and everything it calls, must be
/// `#[inline(always)]` to be compiled for the wider instructions (a closure cannot be marked
/// so, hence a trait).
pub(crate) trait Kernel<Task> {
    type Output;
    fn run(&self, task: Task) -> Self::Output;
}

/// A kernel with one task, as pulp's operation.
struct Job<'k, K, Task>(&'k K, Task);

impl<K: Kernel<Task>, Task> pulp::WithSimd for Job<'_, K, Task> {
    type Output = K::Output;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> K::Output {
        self.0.run(self.1)
    }
}

/// `kernel.run(task)` compiled for the widest vector instructions the CPU has, detected at
/// run time by pulp (whose `unsafe` stays in pulp): on x86-64, AVX-512 (pulp's `V4`: F, BW,
/// CD, DQ, VL) where the CPU has it, else AVX2 + FMA (`V3`), else the baseline (SSE2).
///
/// The results do not depend on the instruction set: the kernels' arithmetic is elementwise
/// or summed in fixed lanes, Rust never fuses a multiply and an add on its own, and the
/// explicit `mul_add`s round once everywhere (each test of a kernel against the baseline,
/// [`dispatched_and_baseline`], checks this bit for bit).
///
/// AVX-512 pays where a pass streams one row at a time: on AMD Zen 4, BCE with logits
/// `[16, 8, 256, 256]` 11 → 7 ms, the sigmoid focal loss `[16, 1, 256, 256]` 1.5 → 1.05 ms,
/// cross-entropy `[4096, 1000]` 1.9 → 1.3–1.5 ms; the class tiles of cross-entropy and Dice
/// measured the same as with AVX2 (docs/performance.md, stop 25).
#[inline(always)]
pub(crate) fn vectorized<K: Kernel<Task>, Task>(kernel: &K, task: Task) -> K::Output {
    #[cfg(test)]
    if tests::BASELINE.load(std::sync::atomic::Ordering::SeqCst) {
        return kernel.run(task);
    }
    pulp::Arch::new().dispatch(Job(kernel, task))
}

/// `[f(), f()]`, the first with the kernels dispatched as usual ([`vectorized`]), the second
/// with every kernel compiled for the baseline instruction set, for tests that the results
/// do not depend on it. (On a CPU with nothing wider than the baseline, both are the same
/// code.)
#[cfg(test)]
pub(crate) fn dispatched_and_baseline<R>(f: impl Fn() -> R) -> [R; 2] {
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::{Mutex, PoisonError};
    /// Resets the switch, also when `f` panics.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            tests::BASELINE.store(false, SeqCst);
        }
    }
    // One such test at a time: another's baseline half must not run this one's first half
    // at the baseline too. (Other tests meanwhile may run at the baseline: same results.)
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let dispatched = f();
    let _reset = Reset;
    tests::BASELINE.store(true, SeqCst);
    [dispatched, f()]
}

/// The bits of each value, to compare results bit for bit (NaNs included).
#[cfg(test)]
pub(crate) fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// `e^x` for `x <= EXP_MAX` (88), `−∞` and NaN included: every caller's argument is at most
/// `0` up to rounding (a logit minus its row's maximum, a log-probability, `−|x|`, `−ln Σ`
/// of a sum `>= 1`), so there is no overflow to handle.
///
/// Without the clamps and the overflow select a general `exp` needs, this is the polynomial
/// and one select: ~30 % faster in the kernels' loops (measured in a stand-alone loop on
/// AMD Zen 3, 13 → 9 cycles per eight elements), with the same values. Below [`EXP_MIN`] the
/// polynomial's exponent bits are garbage (or the arithmetic NaN, at `−∞`), and the select
/// discards them; a NaN `x` gives NaN.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    debug_assert!(
        x <= EXP_MAX || x.is_nan(),
        "fast_math::exp({x}): argument above {EXP_MAX}"
    );
    let scaled = exp_polynomial(x);
    if x < EXP_MIN { 0.0 } else { scaled }
}

/// `e^x` for `x` in `[EXP_MIN, EXP_MAX]`; outside, whatever the bits give.
#[inline(always)]
fn exp_polynomial(x: f32) -> f32 {
    let t = x.mul_add(std::f32::consts::LOG2_E, ROUND_MAGIC);
    let n = t - ROUND_MAGIC;
    let r = n.mul_add(2.121_944_4e-4, n.mul_add(-0.693_359_4, x));
    let mut p = 1.987_569_1e-4_f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    let y = (p * r).mul_add(r, r) + 1.0;
    let exponent = t
        .to_bits()
        .wrapping_sub(ROUND_MAGIC.to_bits())
        .wrapping_add(127);
    y * f32::from_bits(exponent << 23)
}

/// `max(m, v)` as one vector `max` instruction: `v` where it is larger, else `m`. A NaN `v`
/// is skipped, as `f32::max` skips it; `m` must not be NaN (the kernels start from `−inf`).
/// `f32::max` also checks `m` for NaN, which costs a compare and a blend per vector and,
/// in a running maximum, lengthens the chain every element waits on.
#[inline(always)]
pub(crate) fn larger(m: f32, v: f32) -> f32 {
    if v > m { v } else { m }
}

/// `v` where `hit`, else `acc`, for an `acc` that is `0.0` wherever `hit` can be true: the
/// bits of `v` ORed into `acc`'s. A loop of `x = if hit { v } else { x }` over an array
/// compiles to masked stores (`vmaskmovps`), which AMD's cores execute slowly; this is a
/// plain store of an AND and an OR.
#[inline(always)]
pub(crate) fn or_where(acc: f32, hit: bool, v: f32) -> f32 {
    f32::from_bits(acc.to_bits() | (v.to_bits() & u32::from(hit).wrapping_neg()))
}

/// `ln x` for a positive, normal, finite `x` (the kernels take it of sums `>= 1` and of
/// probabilities in `(0, 1]`).
#[inline(always)]
pub(crate) fn ln(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 126;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000); // in [0.5, 1)
    let small = m < std::f32::consts::FRAC_1_SQRT_2;
    e -= small as i32;
    m = if small { m + m - 1.0 } else { m - 1.0 };
    let z = m * m;
    let mut y = 7.037_683_6e-2_f32;
    y = y.mul_add(m, -1.151_461e-1);
    y = y.mul_add(m, 1.167_699_9e-1);
    y = y.mul_add(m, -1.242_014_1e-1);
    y = y.mul_add(m, 1.424_932_3e-1);
    y = y.mul_add(m, -1.666_805_8e-1);
    y = y.mul_add(m, 2.000_071_4e-1);
    y = y.mul_add(m, -2.499_999_4e-1);
    y = y.mul_add(m, 3.333_333e-1);
    y = y * m * z;
    let ef = e as f32;
    y = ef.mul_add(-2.121_944_4e-4, y);
    y = z.mul_add(-0.5, y);
    ef.mul_add(0.693_359_4, m + y)
}

/// `1 / (1 + e^-x)`, finite for every finite `x`.
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    // `e^−x` with `−x` clamped to the polynomial's range, and only the overflow select: where
    // `−x < EXP_MIN`, the clamped `e^−x` is ~1e-38 and `1/(1 + 1e-38)` is exactly `1`, as with
    // `e^−x = 0`; where `−x > EXP_OVERFLOW`, f32's `e^−x` is `inf` and the sigmoid `0`.
    let s = 1.0 / (1.0 + exp_polynomial((-x).clamp(EXP_MIN, EXP_MAX)));
    if x < -EXP_OVERFLOW { 0.0 } else { s }
}

/// Below this, `x^p` is evaluated at `TINY` with a zero derivative: the generic path's
/// `pow_nonneg` rule (`functional::math`), kept identical so both paths agree.
const TINY: f32 = 1.084_202_2e-19;

/// The power `x^p` of the overlap statistics and of the focal factor, with the derivative the
/// generic path's `pow_nonneg` has: `p = 1` and `p = 2` exact; otherwise `0` (derivative `0`)
/// for `x <= 0` and `TINY^p` (derivative `0`) for `0 < x < TINY`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Power {
    One,
    Two,
    Other(f32),
}

impl Power {
    pub fn new(p: f32) -> Self {
        if p == 1.0 {
            Self::One
        } else if p == 2.0 {
            Self::Two
        } else {
            Self::Other(p)
        }
    }

    /// `(x^p, d x^p / dx)`.
    #[inline(always)]
    pub fn value_and_slope(self, x: f32) -> (f32, f32) {
        match self {
            Self::One => (x, 1.0),
            Self::Two => (x * x, 2.0 * x),
            Self::Other(p) => {
                if x <= 0.0 {
                    (0.0, 0.0)
                } else if x < TINY {
                    (TINY.powf(p), 0.0)
                } else {
                    let v = x.powf(p);
                    (v, p * v / x)
                }
            }
        }
    }
}

/// `Σ_j f([rows[0][j], …, rows[M − 1][j]])` over `M` rows of one length, in eight interleaved
/// partial sums: a form the compiler vectorises, where a single running sum must stay in
/// order.
///
/// The rows are sliced once per eight elements, so that no element access is bounds-checked
/// (an index closure kept a check per lane, and the loop scalar). One sum per call: with
/// several terms per element, the vectoriser packed one element's terms together (a scalar
/// loop with shuffles) as often as not; on a tile in L1, a pass per sum costs less.
#[inline(always)]
pub(crate) fn lane_sum<const M: usize>(rows: [&[f32]; M], f: impl Fn([f32; M]) -> f32) -> f32 {
    const LANES: usize = 8;
    let len = rows.first().map_or(0, |row| row.len());
    assert!(
        rows.iter().all(|row| row.len() == len),
        "lane_sum: rows of different lengths"
    );
    let full = len / LANES * LANES;
    let mut lanes = [0.0f32; LANES];
    for j0 in (0..full).step_by(LANES) {
        let chunk = rows.map(|row| &row[j0..j0 + LANES]);
        for (lane, acc) in lanes.iter_mut().enumerate() {
            *acc += f(chunk.map(|row| row[lane]));
        }
    }
    let tail: f32 = (full..len).map(|j| f(rows.map(|row| row[j]))).sum();
    lanes.iter().sum::<f32>() + tail
}

impl Power {
    /// `Σ_j f(row values at j)^p` over rows of one length, with the power's case chosen once
    /// for the whole sum.
    #[inline(always)]
    pub fn sum<const M: usize>(self, rows: [&[f32]; M], f: impl Fn([f32; M]) -> f32) -> f32 {
        match self {
            Self::One => lane_sum(rows, f),
            Self::Two => lane_sum(rows, |v| f(v) * f(v)),
            Self::Other(_) => lane_sum(rows, |v| self.value_and_slope(f(v)).0),
        }
    }

    /// `[Σ a·y, Σ a^p, Σ y^p]` over `(a, y) = f(row values at j)`, rows of one length (a
    /// [`lane_sum`] each).
    #[inline(always)]
    pub fn overlap_sums<const M: usize>(
        self,
        rows: [&[f32]; M],
        f: impl Fn([f32; M]) -> (f32, f32),
    ) -> [f32; 3] {
        [
            lane_sum(rows, |v| f(v).0 * f(v).1),
            self.sum(rows, |v| f(v).0),
            self.sum(rows, |v| f(v).1),
        ]
    }

    /// `out[j] = d x^p/dx` at `x[j]`, with the power's case chosen once.
    #[inline(always)]
    pub fn slopes(self, x: &[f32], out: &mut [f32]) {
        match self {
            Self::One => out.fill(1.0),
            Self::Two => out.iter_mut().zip(x).for_each(|(o, &x)| *o = 2.0 * x),
            Self::Other(_) => {
                (out.iter_mut().zip(x)).for_each(|(o, &x)| *o = self.value_and_slope(x).1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`dispatched_and_baseline`]'s switch: every kernel at the baseline instruction set.
    pub(super) static BASELINE: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(false);

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_is_within_a_few_ulp_of_std() {
        let mut worst = 0;
        for i in 0..=200_000 {
            let x = -87.0 + 175.0 * i as f32 / 200_000.0;
            worst = worst.max(ulps(exp(x), x.exp()));
        }
        assert!(worst <= 3, "worst {worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1e4), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-3e38), 0.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(ulps(exp(EXP_MAX), EXP_MAX.exp()) <= 3);
        assert!(ulps(exp(EXP_MIN), EXP_MIN.exp()) <= 3);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "argument above 88")]
    fn exp_refuses_arguments_that_would_overflow() {
        exp(89.0);
    }

    #[test]
    fn ln_is_within_a_few_ulp_of_std() {
        let mut worst = 0;
        let mut x = f32::MIN_POSITIVE;
        while x < 1e30 {
            worst = worst.max(ulps(ln(x), x.ln()));
            x *= 1.000_37;
        }
        assert!(worst <= 3, "worst {worst} ulp");
        assert_eq!(ln(1.0), 0.0);
    }

    #[test]
    fn or_where_picks_v_where_hit() {
        for v in [1.5, -0.0, f32::NEG_INFINITY, -1e4] {
            assert_eq!(or_where(0.0, true, v).to_bits(), v.to_bits());
            assert_eq!(or_where(0.0, false, v).to_bits(), 0.0f32.to_bits());
            assert_eq!(or_where(2.5, false, v), 2.5);
        }
        assert!(or_where(0.0, true, f32::NAN).is_nan());
    }

    #[test]
    fn larger_is_max_skipping_nan() {
        assert_eq!(larger(1.0, 2.0), 2.0);
        assert_eq!(larger(2.0, 1.0), 2.0);
        assert_eq!(larger(f32::NEG_INFINITY, -1e4), -1e4);
        assert_eq!(larger(3.0, f32::NAN), 3.0);
    }

    #[test]
    fn sigmoid_saturates_without_nan() {
        assert_eq!(sigmoid(1e4), 1.0);
        assert_eq!(sigmoid(-1e4), 0.0);
        assert!((sigmoid(0.3) - 1.0 / (1.0 + (-0.3f32).exp())).abs() < 1e-7);
    }

    #[test]
    fn lane_sums_add_every_term() {
        for len in [0usize, 1, 7, 8, 9, 64] {
            let up: Vec<f32> = (0..len).map(|j| j as f32).collect();
            let down: Vec<f32> = (0..len).map(|j| (len - j) as f32).collect();
            let expected: f32 = (0..len).map(|j| j as f32).sum();
            assert_eq!(lane_sum([&up], |[x]| x), expected, "len {len}");
            let squares: f32 = (0..len).map(|j| (j * j) as f32).sum();
            assert_eq!(Power::Two.sum([&up], |[x]| x), squares, "len {len}");
            let products: f32 = (0..len).map(|j| (j * (len - j)) as f32).sum();
            assert_eq!(Power::One.sum([&up, &down], |[a, b]| a * b), products);
            let cubes: f32 = (0..len).map(|j| ((len - j).pow(3)) as f32).sum();
            assert_eq!(
                Power::Other(3.0).overlap_sums([&up, &down], |[a, y]| (a, y)),
                [
                    products,
                    (0..len).map(|j| (j as f32).powf(3.0)).sum(),
                    cubes
                ],
                "len {len}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "rows of different lengths")]
    fn lane_sum_refuses_rows_of_different_lengths() {
        lane_sum([&[1.0, 2.0][..], &[1.0][..]], |[a, b]| a * b);
    }

    #[test]
    fn power_follows_the_generic_rule() {
        assert_eq!(Power::new(1.0).value_and_slope(-2.0), (-2.0, 1.0));
        assert_eq!(Power::new(2.0).value_and_slope(3.0), (9.0, 6.0));
        let half = Power::new(0.5);
        assert_eq!(half.value_and_slope(0.0), (0.0, 0.0));
        assert_eq!(half.value_and_slope(1e-30).1, 0.0);
        let (v, d) = half.value_and_slope(4.0);
        assert!((v - 2.0).abs() < 1e-6 && (d - 0.25).abs() < 1e-6);
    }
}
