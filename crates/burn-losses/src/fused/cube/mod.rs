//! The device fast path: the CubeCL kernels of [`kernels`], run pass by pass ([`Pass`]) on
//! `CubeBackend<R, f32, i32, _>` directly (what `burn::backend::Wgpu` is without Burn's
//! `fusion` feature) or, with the `fusion` feature, as custom operations of
//! `Fusion<CubeBackend<..>>` (Burn's default `Wgpu`); with or without `Autodiff`.
//!
//! Each pass is one launch, plus one for the lane sums of the overlap statistics and one copy
//! for a tensor that is not contiguous. Nothing is read back to the host: class weights stay
//! on the device (an all-ones tensor is uploaded where there are none), and out-of-range class
//! targets are counted by the reduction for the caller's switchable check to read (or left to
//! that check where the loss is not reduced).

#[cfg(feature = "fusion")]
mod fusion;
mod kernels;
mod passes;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, unary};
use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Int, Shape, Tensor, TensorData, TensorMetadata};
use burn_cubecl::{BoolElement, CubeRuntime};

use super::dispatch::{BinaryInputs, ClassInputs, ClassLosses, OutOfRange, OverlapInputs};
use super::primitive::{AutodiffFloat, Unwrapped, float_of, int_of, register, untracked};
use super::{BinaryLossKind, BinaryLossSpec, ClassLossKind, ClassLossSpec, Score, ScoreSpec};
use crate::functional::overlap::OverlapTargets;
use crate::{Activation, EmptyClass, GeneralizedDiceWeight, Reduction};
use passes::Pass;

/// An input of a pass: the targets may be an int tensor.
#[derive(Debug, Clone)]
pub(crate) enum Input<K: Backend> {
    Float(K::FloatTensorPrimitive),
    Int(K::IntTensorPrimitive),
}

/// A backend that runs the passes: `CubeBackend` itself, or `Fusion` over it.
pub(crate) trait KernelBackend: Backend {
    /// The outputs of `pass` on `inputs` (in the order of [`Pass`]).
    fn run(pass: Pass, inputs: Vec<Input<Self>>) -> Vec<Self::FloatTensorPrimitive>;
}

impl<R: CubeRuntime, BT: BoolElement> KernelBackend for CubeBackend<R, f32, i32, BT> {
    fn run(pass: Pass, inputs: Vec<Input<Self>>) -> Vec<CubeTensor<R>> {
        let inputs = inputs
            .into_iter()
            .map(|input| match input {
                Input::Float(t) | Input::Int(t) => t,
            })
            .collect();
        pass.run(inputs)
    }
}

/// The tensor's primitive if `B` is `K` or its `Autodiff` and the elements are f32.
fn device_float<B: Backend, K: KernelBackend, const D: usize>(
    tensor: &Tensor<B, D>,
) -> Option<Unwrapped<K>> {
    float_of::<B, K, D>(tensor).filter(|t| t.inner().dtype() == DType::F32)
}

/// The int tensor's primitive if `B`'s is `K`'s and holds `i32`.
fn device_int<B: Backend, K: KernelBackend, const D: usize>(
    tensor: &Tensor<B, D, Int>,
) -> Option<K::IntTensorPrimitive> {
    int_of::<B, K, D>(tensor).filter(|t| t.dtype() == DType::I32)
}

/// `values` on the device of `like`.
fn upload<K: KernelBackend>(values: Vec<f32>, like: &K::FloatTensorPrimitive) -> Input<K> {
    let len = values.len();
    let device = K::float_device(like);
    Input::Float(K::float_from_data(TensorData::new(values, [len]), &device))
}

/// The class weights on the device (ones where there are none), `None` where they need a
/// gradient (the generic path computes it) or live elsewhere.
fn device_weight<B: Backend, K: KernelBackend>(
    weight: Option<&Tensor<B, 1>>,
    classes: usize,
    like: &K::FloatTensorPrimitive,
) -> Option<Input<K>> {
    match weight {
        None => Some(upload::<K>(vec![1.0; classes], like)),
        Some(w) if w.is_require_grad() => None,
        Some(w) => device_float::<B, K, 1>(w).map(|w| Input::Float(w.inner().clone())),
    }
}

/// `[weights, params]` of a class loss for `spec`, and the `ignore` of its passes.
fn class_params<B: Backend, K: KernelBackend>(
    weight: Option<&Tensor<B, 1>>,
    spec: &ClassLossSpec,
    like: &K::FloatTensorPrimitive,
) -> Option<([Input<K>; 2], Ignore)> {
    let c = spec.num_classes;
    let weights = device_weight::<B, K>(weight, c, like)?;
    let (eps, gamma) = match spec.kind {
        ClassLossKind::CrossEntropy { label_smoothing } => (label_smoothing, 0.0),
        ClassLossKind::Focal { gamma } => (0.0, gamma),
    };
    let params = upload::<K>(vec![1.0 - eps, eps / c as f32, gamma], like);
    let index = spec.ignore_index;
    let inside = (0..c as i64).contains(&index);
    let ignore = Ignore {
        class: if inside { index as u32 } else { c as u32 },
        outside: (!inside && i32::try_from(index).is_ok()).then_some(index),
    };
    Some(([weights, params], ignore))
}

/// `ignore_index` as the kernels take it (the targets are `i32`).
#[derive(Clone, Copy)]
struct Ignore {
    /// The class it names where it lies in `[0, C)`, `C` otherwise.
    class: u32,
    /// Itself where it lies outside `[0, C)` and within `i32` (a target can equal it).
    outside: Option<i64>,
}

pub(super) fn class_losses<B: Backend, K: KernelBackend, const D: usize, const K_: usize>(
    logits: Tensor<B, D>,
    targets: Tensor<B, K_, Int>,
    weight: Option<&Tensor<B, 1>>,
    spec: &ClassLossSpec,
) -> Result<ClassLosses<B>, ClassInputs<B, D, K_>> {
    let (Some(x), Some(t)) = (
        device_float::<B, K, D>(&logits),
        device_int::<B, K, K_>(&targets),
    ) else {
        return Err((logits, targets));
    };
    let Some(([weights, params], ignore)) = class_params::<B, K>(weight, spec, x.inner()) else {
        return Err((logits, targets));
    };
    super::count_call();
    let focal = matches!(spec.kind, ClassLossKind::Focal { gamma } if gamma > 0.0);
    let forward = Pass::ClassForward {
        focal,
        unit_denominator: matches!(spec.kind, ClassLossKind::Focal { .. }),
        ignore: ignore.class,
        outside_ignore: ignore.outside,
        reduction: spec.reduction,
    };
    let mut inputs = vec![
        Input::Float(x.inner().clone()),
        Input::Int(t),
        weights,
        params,
    ];
    let mut outputs = K::run(forward, inputs.clone()).into_iter();
    let loss = outputs.next().expect("the loss");
    // The factor from the upstream gradient to each pixel's (the reduction's, or `1`), and the
    // reduction's count of out-of-range targets.
    let (scale, out_of_range) = match (outputs.next(), outputs.next()) {
        (Some(scale), Some(count)) => (Input::Float(scale), Some(count)),
        _ => (upload::<K>(vec![1.0], x.inner()), None),
    };
    inputs.push(scale);
    let backward = Pass::ClassBackward {
        focal,
        ignore: ignore.class,
        uniform: spec.reduction != Reduction::None,
    };
    Ok(ClassLosses {
        loss: x.output::<B, 1>(loss, with_backward(backward, inputs)),
        out_of_range: match out_of_range {
            Some(count) => OutOfRange::Counted(x.output::<B, 1>(count, untracked::<K>)),
            None => OutOfRange::Unknown,
        },
    })
}

pub(super) fn soft_class_losses<B: Backend, K: KernelBackend, const D: usize>(
    logits: Tensor<B, D>,
    targets: Tensor<B, D>,
    weight: Option<&Tensor<B, 1>>,
    spec: &ClassLossSpec,
) -> Result<Tensor<B, 1>, (Tensor<B, D>, Tensor<B, D>)> {
    let (Some(x), Some(t), false) = (
        device_float::<B, K, D>(&logits),
        device_float::<B, K, D>(&targets),
        targets.is_require_grad(),
    ) else {
        return Err((logits, targets));
    };
    let Some(([weights, params], _)) = class_params::<B, K>(weight, spec, x.inner()) else {
        return Err((logits, targets));
    };
    super::count_call();
    let inputs = vec![
        Input::Float(x.inner().clone()),
        Input::Float(t.inner().clone()),
        weights,
        params,
    ];
    let losses = single(K::run(Pass::SoftForward, inputs.clone()));
    Ok(x.output::<B, 1>(losses, with_backward(Pass::SoftBackward, inputs)))
}

/// BCE with logits or the sigmoid focal loss, reduced as the spec says: one launch (plus one
/// for a reduction) forward, one backward, which computes each element's derivative again.
pub(super) fn binary_losses<B: Backend, K: KernelBackend, const D: usize>(
    logits: Tensor<B, D>,
    targets: Tensor<B, D>,
    weight: Option<&Tensor<B, 1>>,
    pos_weight: Option<&Tensor<B, 1>>,
    spec: &BinaryLossSpec,
) -> Result<Tensor<B, 1>, BinaryInputs<B, D>> {
    let (Some(x), Some(t), false) = (
        device_float::<B, K, D>(&logits),
        device_float::<B, K, D>(&targets),
        targets.is_require_grad(),
    ) else {
        return Err((logits, targets));
    };
    let ncs = BinaryLossSpec::dims(&logits.dims());
    let (Some(weights), Some(pos_weights)) = (
        device_weight::<B, K>(weight, ncs[1], x.inner()),
        device_weight::<B, K>(pos_weight, ncs[1], x.inner()),
    ) else {
        return Err((logits, targets));
    };
    super::count_call();
    // `[ε, ignore_value, has_ignore, α, has_α, γ]`.
    let (eps, ignore, alpha, gamma, focal) = match spec.kind {
        BinaryLossKind::BceWithLogits {
            label_smoothing,
            ignore_value,
        } => (label_smoothing, ignore_value, None, 0.0, false),
        BinaryLossKind::Focal { alpha, gamma } => (0.0, None, alpha, gamma, true),
    };
    let flag = |on: bool| if on { 1.0 } else { 0.0 };
    let params = vec![
        eps,
        ignore.unwrap_or(0.0),
        flag(ignore.is_some()),
        alpha.unwrap_or(0.0),
        flag(alpha.is_some()),
        gamma,
    ];
    let power = focal && gamma > 0.0;
    let reshaped = |t: &K::FloatTensorPrimitive| K::float_reshape(t.clone(), Shape::new(ncs));
    let mut inputs = vec![
        Input::Float(reshaped(x.inner())),
        Input::Float(reshaped(t.inner())),
        weights,
        pos_weights,
        upload::<K>(params, x.inner()),
    ];
    let forward = Pass::SigmoidForward {
        focal,
        power,
        reduction: spec.reduction,
    };
    let mut outputs = K::run(forward, inputs.clone()).into_iter();
    let loss = outputs.next().expect("the loss");
    inputs.push(match outputs.next() {
        Some(scale) => Input::Float(scale),
        None => upload::<K>(vec![1.0], x.inner()),
    });
    let backward = Pass::SigmoidBackward {
        focal,
        power,
        uniform: spec.reduction != Reduction::None,
    };
    Ok(x.output::<B, 1>(loss, with_backward(backward, inputs)))
}

/// The overlap statistics of `input` read as `ncs` (`[N, C, S]`, the same elements in the same
/// order).
pub(super) fn overlap<B: Backend, K: KernelBackend, const D: usize, const K_: usize>(
    input: Tensor<B, D>,
    targets: OverlapTargets<B, D, K_>,
    ncs: [usize; 3],
    activation: Activation,
    p: f32,
) -> Result<Tensor<B, 3>, OverlapInputs<B, D, K_>> {
    let [n, _, s] = ncs;
    let stored = match &targets {
        OverlapTargets::Dense(y) if y.is_require_grad() => None,
        OverlapTargets::Dense(y) => device_float::<B, K, D>(y)
            .map(|y| Input::Float(K::float_reshape(y.inner().clone(), Shape::new(ncs)))),
        OverlapTargets::Indices(t) => {
            device_int::<B, K, K_>(t).map(|t| Input::Int(K::int_reshape(t, Shape::new([n, s]))))
        }
    };
    let (Some(x), Some(stored)) = (device_float::<B, K, D>(&input), stored) else {
        return Err((input, targets));
    };
    super::count_call();
    let indices = matches!(stored, Input::Int(_));
    let params = upload::<K>(vec![p], x.inner());
    let x_ncs = K::float_reshape(x.inner().clone(), Shape::new(ncs));
    let inputs = vec![Input::Float(x_ncs), stored, params];
    let forward = Pass::OverlapForward {
        indices,
        activation,
    };
    let stats = single(K::run(forward, inputs.clone()));
    let backward = Pass::OverlapBackward {
        indices,
        activation,
    };
    Ok(x.output::<B, 3>(stats, with_backward(backward, inputs)))
}

/// A Dice-family loss from the overlap statistics `[N, 3, C]`: one launch of one cube forward
/// (which also writes each statistic's slope), one launch backward.
pub(super) fn overlap_score<B: Backend, K: KernelBackend>(
    stats: Tensor<B, 3>,
    weight: Option<&Tensor<B, 1>>,
    spec: &ScoreSpec,
) -> Result<Tensor<B, 1>, Tensor<B, 3>> {
    let Some(x) = device_float::<B, K, 3>(&stats) else {
        return Err(stats);
    };
    let [_, _, c] = stats.dims();
    let Some(weights) = device_weight::<B, K>(weight, c, x.inner()) else {
        return Err(stats);
    };
    let [smooth_nr, smooth_dr] = spec.smooth;
    let count = spec.included.iter().sum::<f32>();
    // `[a, b, u, v, s_nr, s_dr, γ, |I|, included..]`; generalized Dice: the weight kind first.
    let (head, empty, gamma) = match spec.score {
        Score::Ratio {
            numerator,
            denominator: [b, u, v],
            empty,
            gamma,
        } => ([numerator, b, u, v], empty, gamma),
        Score::Generalized(weight) => {
            let kind = match weight {
                GeneralizedDiceWeight::Uniform => 0.0,
                GeneralizedDiceWeight::Simple => 1.0,
                GeneralizedDiceWeight::Square => 2.0,
            };
            ([kind, 0.0, 0.0, 0.0], EmptyClass::Keep, 1.0)
        }
    };
    let mut params = head.to_vec();
    params.extend_from_slice(&[smooth_nr, smooth_dr, gamma, count]);
    params.extend_from_slice(&spec.included);
    let inputs = vec![
        Input::Float(x.inner().clone()),
        weights,
        upload::<K>(params, x.inner()),
    ];
    let forward = Pass::ScoreForward {
        generalized: matches!(spec.score, Score::Generalized(_)),
        batch: spec.batch,
        empty,
        reduction: spec.reduction,
    };
    let [loss, slopes] = <[_; 2]>::try_from(K::run(forward, inputs))
        .unwrap_or_else(|_| unreachable!("the loss and the slopes"));
    let backward = with_backward(Pass::ScoreBackward, vec![Input::Float(slopes)]);
    Ok(x.output::<B, 1>(loss, backward))
}

/// Registers a forward pass's output on the autodiff graph, its backward pass `backward` on
/// `inputs` and the upstream gradient.
fn with_backward<K: KernelBackend>(
    backward: Pass,
    inputs: Vec<Input<K>>,
) -> impl FnOnce(&AutodiffFloat<K>, K::FloatTensorPrimitive) -> AutodiffFloat<K> {
    move |input, output| {
        let state = PassState {
            backward,
            inputs,
            shape: input.primitive.shape(),
        };
        register(PassBackward, state, input, output)
    }
}

/// The one output of a pass.
fn single<T>(outputs: Vec<T>) -> T {
    let [output] = <[T; 1]>::try_from(outputs).unwrap_or_else(|_| unreachable!("one output"));
    output
}

/// The backward pass of a forward pass: `backward` on the forward's inputs and the upstream
/// gradient.
#[derive(Debug)]
struct PassBackward;

#[derive(Debug, Clone)]
struct PassState<K: Backend> {
    backward: Pass,
    inputs: Vec<Input<K>>,
    /// The input's own shape, the gradient's (the passes may see it reshaped).
    shape: Shape,
}

impl<K: KernelBackend> Backward<K, 1> for PassBackward {
    type State = PassState<K>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let PassState {
            backward,
            inputs,
            shape,
        } = ops.state;
        unary::<K, _>(ops.parents, ops.node, grads, |upstream| {
            let mut inputs = inputs;
            inputs.push(Input::Float(upstream));
            K::float_reshape(single(K::run(backward, inputs)), shape)
        });
    }
}
