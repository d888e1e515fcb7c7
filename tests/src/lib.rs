//! Conformance-test support for `burn-losses`: PyTorch fixtures, per-backend tolerances,
//! finite-difference checks, and [`backend_tests!`], which instantiates one generic test body
//! per backend (`Autodiff<NdArray<f32>>` always, `Autodiff<Flex>` with the `flex` feature,
//! `Autodiff<Wgpu>` with the `wgpu` feature).

use std::fmt::Debug;

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, TensorData};
use serde::{Deserialize, Serialize};

/// The autodiff ndarray backend every test runs on.
pub type NdArrayBackend = burn::backend::Autodiff<burn::backend::NdArray<f32>>;

/// The autodiff wgpu backend (software Vulkan on CI, a real GPU where one is present).
#[cfg(feature = "wgpu")]
pub type WgpuBackend = burn::backend::Autodiff<burn::backend::Wgpu>;

/// The autodiff flex backend (Burn 0.21's recommended CPU backend).
#[cfg(feature = "flex")]
pub type FlexBackend = burn::backend::Autodiff<burn::backend::Flex>;

/// Absolute and relative tolerance: `|actual − expected| <= atol + rtol·|expected|`.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    /// Absolute part.
    pub atol: f64,
    /// Relative part.
    pub rtol: f64,
}

/// What a generic test body gets: the device and the tolerance of its backend.
pub struct Ctx<B: Backend> {
    /// The device to create tensors on.
    pub device: B::Device,
    /// Tolerance for comparing f32 results with float64 references.
    pub tol: Tolerance,
    /// The backend's name, for messages.
    pub name: &'static str,
}

impl Ctx<NdArrayBackend> {
    /// ndarray, f32 on the CPU.
    ///
    /// The references are float64. An f32 loss carries rounding of a few ulps (ε = 1.2e-7) per
    /// operation on values of magnitude up to ~|logit|, and sums of up to a few hundred terms:
    /// `rtol = 1e-5` (~80 ulp) and `atol = 1e-6` cover that with margin and still catch any
    /// formula error (those show up at 1e-3 or more).
    pub fn ndarray() -> Self {
        Self {
            device: Default::default(),
            tol: Tolerance {
                atol: 1e-6,
                rtol: 1e-5,
            },
            name: "ndarray",
        }
    }
}

#[cfg(feature = "flex")]
impl Ctx<FlexBackend> {
    /// flex, f32 on the CPU: the same arithmetic as ndarray, and the same tolerance (the whole
    /// suite passes at it).
    pub fn flex() -> Self {
        Self {
            device: Default::default(),
            tol: Tolerance {
                atol: 1e-6,
                rtol: 1e-5,
            },
            name: "flex",
        }
    }
}

#[cfg(feature = "wgpu")]
impl Ctx<WgpuBackend> {
    /// wgpu, f32 on a GPU (or lavapipe on the CPU).
    ///
    /// Same f32 arithmetic as ndarray, but GPU reductions sum in a different (tree/parallel)
    /// order and `exp`/`log` are the shader's, specified to a few ulp rather than correctly
    /// rounded: `rtol = 2e-5`, `atol = 2e-6`, twice the ndarray bounds.
    pub fn wgpu() -> Self {
        Self {
            device: Default::default(),
            tol: Tolerance {
                atol: 2e-6,
                rtol: 2e-5,
            },
            name: "wgpu",
        }
    }
}

/// Instantiates generic test bodies `fn name<B: AutodiffBackend>(ctx: &Ctx<B>)` once per
/// backend: `ndarray::name` always, `flex::name` with the crate's `flex` feature and
/// `wgpu::name` with its `wgpu` feature.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod ndarray {
            $(
                #[test]
                fn $name() {
                    super::$name(&$crate::Ctx::<$crate::NdArrayBackend>::ndarray());
                }
            )*
        }

        #[cfg(feature = "flex")]
        mod flex {
            $(
                #[test]
                fn $name() {
                    super::$name(&$crate::Ctx::<$crate::FlexBackend>::flex());
                }
            )*
        }

        #[cfg(feature = "wgpu")]
        mod wgpu {
            $(
                #[test]
                fn $name() {
                    super::$name(&$crate::Ctx::<$crate::WgpuBackend>::wgpu());
                }
            )*
        }
    };
}

/// One reference case from `fixtures/*.json`.
#[derive(Debug, Deserialize)]
pub struct Case {
    /// `group/reduction`.
    pub name: String,
    /// The loss config, as its serde JSON.
    #[serde(default)]
    pub config: serde_json::Value,
    /// For files holding several losses, which one.
    #[serde(default)]
    pub loss: Option<String>,
    /// The reference library call the expected values come from, for messages.
    #[serde(default)]
    pub reference: Option<String>,
    /// Shape of the input (logits or probabilities).
    pub input_shape: Vec<usize>,
    /// The input, row-major.
    pub input: Vec<f64>,
    /// Shape of the target.
    #[serde(default)]
    pub target_shape: Vec<usize>,
    /// The target, row-major (class indices or floats).
    #[serde(default)]
    pub target: Vec<f64>,
    /// The reference output, flattened.
    pub output: Vec<f64>,
    /// The reference gradient of the output (or of `Σ output·upstream`) w.r.t. the input.
    #[serde(default)]
    pub grad: Vec<f64>,
    /// For `Reduction::None`: the weights of the output in the backward pass.
    #[serde(default)]
    pub upstream: Option<Vec<f64>>,
    /// For `one_hot` cases.
    #[serde(default)]
    pub num_classes: usize,
    /// For `one_hot` cases.
    #[serde(default)]
    pub output_shape: Vec<usize>,
}

impl Case {
    /// Deserialises the case's config into the loss's config type.
    pub fn config<C: serde::de::DeserializeOwned>(&self) -> C {
        serde_json::from_value(self.config.clone())
            .unwrap_or_else(|e| panic!("{}: config does not deserialise: {e}", self.name))
    }

    /// Deserialises the case's config over `base`: a field the fixture does not name (an
    /// option added after the fixture was generated) keeps `base`'s value, normally the
    /// default, so older fixtures keep meaning what they meant.
    pub fn config_over<C: Serialize + serde::de::DeserializeOwned>(&self, base: &C) -> C {
        let mut merged = serde_json::to_value(base).expect("config serialises");
        let (Some(merged_fields), Some(fields)) = (merged.as_object_mut(), self.config.as_object())
        else {
            panic!("{}: config is not a JSON object", self.name)
        };
        for (key, value) in fields {
            assert!(
                merged_fields.contains_key(key),
                "{}: config field {key:?} is not a field of the config type",
                self.name
            );
            merged_fields.insert(key.clone(), value.clone());
        }
        serde_json::from_value(merged)
            .unwrap_or_else(|e| panic!("{}: config does not deserialise: {e}", self.name))
    }

    /// The input as a float tensor that requires a gradient.
    pub fn input<B: AutodiffBackend, const D: usize>(&self, device: &B::Device) -> Tensor<B, D> {
        float_tensor(&self.input, &self.input_shape, device).require_grad()
    }

    /// The target as class indices.
    pub fn int_target<B: Backend, const K: usize>(&self, device: &B::Device) -> Tensor<B, K, Int> {
        int_tensor(&self.target, &self.target_shape, device)
    }

    /// The target as floats.
    pub fn float_target<B: Backend, const K: usize>(&self, device: &B::Device) -> Tensor<B, K> {
        float_tensor(&self.target, &self.target_shape, device)
    }
}

/// A float tensor from row-major values.
pub fn float_tensor<B: Backend, const D: usize>(
    values: &[f64],
    shape: &[usize],
    device: &B::Device,
) -> Tensor<B, D> {
    let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(values, shape.to_vec()), device)
}

/// An int tensor from row-major values (stored in the backend's own int type).
pub fn int_tensor<B: Backend, const D: usize>(
    values: &[f64],
    shape: &[usize],
    device: &B::Device,
) -> Tensor<B, D, Int> {
    let values: Vec<i64> = values.iter().map(|&v| v as i64).collect();
    Tensor::from_data(TensorData::new(values, shape.to_vec()), device)
}

/// Reads `fixtures/<name>.json`.
pub fn load_fixtures(name: &str) -> Vec<Case> {
    #[derive(Deserialize)]
    struct File {
        cases: Vec<Case>,
    }
    let path = format!("{}/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let file: File = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(!file.cases.is_empty(), "{path} has no cases");
    file.cases
}

/// A tensor's values as f64.
pub fn values<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f64> {
    tensor
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("float tensor")
        .into_iter()
        .map(f64::from)
        .collect()
}

/// Asserts `actual` matches `expected` element-wise within `tol`, naming the first mismatch.
pub fn assert_close(what: &str, actual: &[f64], expected: &[f64], tol: Tolerance) {
    assert_eq!(
        actual.len(),
        expected.len(),
        "{what}: {} values, expected {}",
        actual.len(),
        expected.len()
    );
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let bound = tol.atol + tol.rtol * e.abs();
        assert!(
            a.is_finite() && (a - e).abs() <= bound,
            "{what}[{i}]: got {a}, expected {e} (|diff| = {:e} > {bound:e})",
            (a - e).abs()
        );
    }
}

/// Runs `loss` on a case's input, checks the output and the input gradient against the
/// reference. `loss` maps the input tensor to the loss output (targets captured inside).
pub fn check_case<B: AutodiffBackend, const D: usize>(
    ctx: &Ctx<B>,
    case: &Case,
    loss: impl FnOnce(Tensor<B, D>) -> Tensor<B, 1>,
) {
    let x = case.input::<B, D>(&ctx.device);
    let out = loss(x.clone());
    let what = match &case.reference {
        Some(reference) => format!("[{}] {} ({reference})", ctx.name, case.name),
        None => format!("[{}] {}", ctx.name, case.name),
    };
    assert_close(
        &format!("{what} output"),
        &values(out.clone()),
        &case.output,
        ctx.tol,
    );
    let grads = match &case.upstream {
        Some(upstream) => {
            let upstream = float_tensor::<B, 1>(upstream, &[upstream.len()], &ctx.device);
            (out * upstream).sum().backward()
        }
        None => out.sum().backward(),
    };
    let grad = x.grad(&grads).expect("the input takes part in the loss");
    assert_close(&format!("{what} grad"), &values(grad), &case.grad, ctx.tol);
}

/// Calls `f::<D, K>` with `D` = the case's input rank (2 to 5) and `K = D − 1`.
#[macro_export]
macro_rules! with_rank {
    ($rank:expr, $f:ident, $($arg:expr),*) => {
        match $rank {
            2 => $f::<_, 2, 1>($($arg),*),
            3 => $f::<_, 3, 2>($($arg),*),
            4 => $f::<_, 4, 3>($($arg),*),
            5 => $f::<_, 5, 4>($($arg),*),
            r => panic!("unsupported rank {r}"),
        }
    };
}

/// Finite-difference check of the gradient of a scalar loss, in f32.
///
/// Compares every coordinate of the autodiff gradient at `x` with the central difference
/// `(L(x + h·e_i) − L(x − h·e_i)) / 2h`. With `h = 1e-2`, the truncation error is
/// `h²/6·|L‴|` ≈ 2e-5 for these smooth losses, and the f32 rounding error of `L` (a few ε·|L|,
/// ε = 1.2e-7, over sums of tens of terms) divided by `2h` stays below 1e-4 for `|L| < 10`;
/// hence the bound `5e-4 + 1e-3·|g|`. A wrong gradient term is off by a sizeable fraction of `g`.
pub fn finite_difference_check<B: AutodiffBackend, const D: usize>(
    ctx: &Ctx<B>,
    what: &str,
    x: &[f64],
    shape: &[usize],
    loss: impl Fn(Tensor<B, D>) -> Tensor<B, 1>,
) {
    const H: f64 = 1e-2;
    let xa = float_tensor::<B, D>(x, shape, &ctx.device).require_grad();
    let grads = loss(xa.clone()).backward();
    let grad = values(xa.grad(&grads).expect("gradient"));
    let eval = |x: &[f64]| values(loss(float_tensor(x, shape, &ctx.device)))[0];

    for i in 0..x.len() {
        let mut plus = x.to_vec();
        let mut minus = x.to_vec();
        plus[i] += H;
        minus[i] -= H;
        let fd = (eval(&plus) - eval(&minus)) / (2.0 * H);
        let bound = 5e-4 + 1e-3 * grad[i].abs();
        assert!(
            (fd - grad[i]).abs() <= bound,
            "[{}] {what}: d/dx[{i}]: autodiff {} vs finite difference {fd} (bound {bound:e})",
            ctx.name,
            grad[i]
        );
    }
}

/// Asserts that `f` panics with a message containing every one of `needles`.
pub fn assert_panics_with<R: Debug>(needles: &[&str], f: impl FnOnce() -> R) {
    let err =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("expected a panic");
    let message = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    for needle in needles {
        assert!(
            message.contains(needle),
            "panic message {message:?} does not contain {needle:?}"
        );
    }
}

/// Asserts that `loss(x)` is exactly `0` and that its gradient w.r.t. `x` is all zeros (the
/// all-ignored / empty case, where PyTorch gives `NaN`).
pub fn assert_zero_loss_and_grad<B: AutodiffBackend, const D: usize>(
    ctx: &Ctx<B>,
    what: &str,
    x: Tensor<B, D>,
    loss: impl FnOnce(Tensor<B, D>) -> Tensor<B, 1>,
) {
    let x = x.require_grad();
    let out = loss(x.clone());
    let value = values(out.clone());
    assert!(
        value.iter().all(|&v| v == 0.0),
        "[{}] {what}: expected a zero loss, got {value:?}",
        ctx.name
    );
    let grads = out.sum().backward();
    let grad = x.grad(&grads).map(values).unwrap_or_default();
    assert!(
        grad.iter().all(|&g| g == 0.0),
        "[{}] {what}: expected zero gradients, got {grad:?}",
        ctx.name
    );
}

/// Deterministic pseudo-random values in `[-scale, scale)` (no RNG crate needed).
pub fn pseudo_random(len: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            (2.0 * unit - 1.0) * scale
        })
        .collect()
}
