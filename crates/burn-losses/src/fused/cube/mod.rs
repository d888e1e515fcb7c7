//! The device fast path: the kernels of [`kernels`] for `CubeBackend<R, f32, i32, _>` (what
//! `burn::backend::Wgpu` is without Burn's `fusion` feature), with or without `Autodiff`.
//!
//! Each pass is one launch, plus one for the lane sums of the overlap statistics and one copy
//! for a tensor that is not contiguous. Nothing is read back to the host: class weights stay
//! on the device (an all-ones tensor is uploaded where there are none), and out-of-range class
//! targets are left to the caller's switchable check (`ClassLosses::range_checked` is false).

mod kernels;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, unary};
use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensorOps;
use burn::tensor::{DType, Int, Shape, Tensor, TensorData, TensorMetadata, TensorPrimitive};
use burn_cubecl::CubeRuntime;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use cubecl::prelude::{ComputeClient, CubeCount};
use cubecl::{CubeDim, calculate_cube_count_elemwise};

use super::dispatch::{ClassInputs, ClassLosses, OverlapInputs};
use super::primitive::{AutodiffFloat, Unwrapped, float_of, int_of, register, untracked};
use super::{ClassLossKind, ClassLossSpec};
use crate::Activation;
use crate::functional::overlap::OverlapTargets;

/// The backend the kernels run on, for runtime `R`.
type Device<R> = CubeBackend<R, f32, i32, u32>;

/// The tensor's primitive if `B` is `Device<R>` or its `Autodiff` and the elements are f32.
fn device_float<B: Backend, R: CubeRuntime, const D: usize>(
    tensor: &Tensor<B, D>,
) -> Option<Unwrapped<Device<R>>> {
    float_of::<B, Device<R>, D>(tensor).filter(|t| t.inner().dtype() == DType::F32)
}

/// The int tensor's primitive, contiguous, if `B`'s is `Device<R>`'s and holds `i32`.
fn device_int<B: Backend, R: CubeRuntime, const D: usize>(
    tensor: &Tensor<B, D, Int>,
) -> Option<CubeTensor<R>> {
    int_of::<B, Device<R>, D>(tensor)
        .filter(|t| t.dtype() == DType::I32)
        .map(into_contiguous)
}

/// `values` on the device of `like`.
fn upload<R: CubeRuntime>(values: Vec<f32>, like: &CubeTensor<R>) -> CubeTensor<R> {
    let len = values.len();
    Device::<R>::float_from_data(TensorData::new(values, [len]), &like.device)
}

/// The class weights on the device (ones where there are none), `None` where they need a
/// gradient (the generic path computes it) or live elsewhere.
fn device_weight<B: Backend, R: CubeRuntime>(
    weight: Option<&Tensor<B, 1>>,
    classes: usize,
    like: &CubeTensor<R>,
) -> Option<CubeTensor<R>> {
    match weight {
        None => Some(upload(vec![1.0; classes], like)),
        Some(w) if w.is_require_grad() => None,
        Some(w) => device_float::<B, R, 1>(w).map(|w| into_contiguous(w.inner().clone())),
    }
}

/// An uninitialised f32 tensor of `shape` beside `like`.
fn empty<R: CubeRuntime>(shape: Vec<usize>, like: &CubeTensor<R>) -> CubeTensor<R> {
    empty_device_dtype::<R>(
        like.client.clone(),
        like.device.clone(),
        Shape::from(shape),
        DType::F32,
    )
}

/// One thread per unit.
fn grid<R: CubeRuntime>(client: &ComputeClient<R>, units: usize) -> (CubeCount, CubeDim) {
    let dim = CubeDim::new(client, units);
    (calculate_cube_count_elemwise(client, units, dim), dim)
}

/// `[N, C, S]` of a `[N, C, d1, .., dk]` shape.
fn ncs(shape: &[usize]) -> [usize; 3] {
    [shape[0], shape[1], shape[2..].iter().product()]
}

/// Class-index or dense (probability, one-hot, soft) targets, kept for the backward pass.
#[derive(Debug, Clone)]
enum StoredTargets<R: CubeRuntime> {
    Indices(CubeTensor<R>),
    Dense(CubeTensor<R>),
}

impl<R: CubeRuntime> StoredTargets<R> {
    fn tensor(&self) -> &CubeTensor<R> {
        match self {
            Self::Indices(t) | Self::Dense(t) => t,
        }
    }
}

/// What the softmax–cross-entropy passes need besides the upstream gradient.
#[derive(Debug, Clone)]
struct ClassLossState<R: CubeRuntime> {
    logits: CubeTensor<R>,
    targets: StoredTargets<R>,
    weights: CubeTensor<R>,
    /// `[1 − ε, ε/C, γ]`.
    params: CubeTensor<R>,
    /// `C`, `S`, and `ignore_index` where it lies in `[0, C)` (`C` otherwise).
    dims: [u32; 3],
    /// Focal with `γ > 0`.
    focal: bool,
}

impl<R: CubeRuntime> ClassLossState<R> {
    /// The state of `logits` (`[N, C, d1, .., dk]`) against `targets` for `spec`, with
    /// `weights` on the device.
    fn new(
        logits: CubeTensor<R>,
        targets: StoredTargets<R>,
        weights: CubeTensor<R>,
        spec: &ClassLossSpec,
    ) -> Self {
        let [_, c, s] = ncs(logits.meta.shape());
        let (eps, gamma) = match spec.kind {
            ClassLossKind::CrossEntropy { label_smoothing } => (label_smoothing, 0.0),
            ClassLossKind::Focal { gamma } => (0.0, gamma),
        };
        let params = upload(vec![1.0 - eps, eps / c as f32, gamma], &logits);
        let ignore = match u32::try_from(spec.ignore_index) {
            Ok(class) if (class as usize) < c => class,
            _ => c as u32,
        };
        Self {
            logits,
            targets,
            weights,
            params,
            dims: [c as u32, s as u32, ignore],
            focal: gamma > 0.0,
        }
    }

    /// `N·S`.
    fn pixels(&self) -> usize {
        self.logits.meta.num_elements() / self.dims[0] as usize
    }
}

pub(super) fn class_losses<B: Backend, R: CubeRuntime, const D: usize, const K: usize>(
    logits: Tensor<B, D>,
    targets: Tensor<B, K, Int>,
    weight: Option<&Tensor<B, 1>>,
    spec: &ClassLossSpec,
) -> Result<ClassLosses<B>, ClassInputs<B, D, K>> {
    let (Some(x), Some(t)) = (
        device_float::<B, R, D>(&logits),
        device_int::<B, R, K>(&targets),
    ) else {
        return Err((logits, targets));
    };
    let Some(weights) = device_weight::<B, R>(weight, spec.num_classes, x.inner()) else {
        return Err((logits, targets));
    };
    super::count_call();
    let logits_c = into_contiguous(x.inner().clone());
    let state = ClassLossState::new(logits_c, StoredTargets::Indices(t), weights, spec);
    let pixels = state.pixels();
    let losses = empty(vec![pixels], &state.logits);
    let denominators = empty(vec![pixels], &state.logits);
    let client = &state.logits.client;
    let (count, dim) = grid(client, pixels);
    let [c, s, ignore] = state.dims;
    let targets_c = state.targets.tensor();
    kernels::class_forward::launch::<R>(
        client,
        count,
        dim,
        state.logits.clone().into_tensor_arg(),
        targets_c.clone().into_tensor_arg(),
        state.weights.clone().into_tensor_arg(),
        state.params.clone().into_tensor_arg(),
        losses.clone().into_tensor_arg(),
        denominators.clone().into_tensor_arg(),
        c,
        s,
        ignore,
        state.focal,
        matches!(spec.kind, ClassLossKind::Focal { .. }),
        [DType::F32.into(), targets_c.dtype.into()],
    );
    let tracked = |input: &AutodiffFloat<Device<R>>, losses| {
        register(ClassLossBackward, state, input, losses)
    };
    Ok(ClassLosses {
        losses: x.output::<B, 1>(losses, tracked),
        denominators: x.output::<B, 1>(denominators, untracked::<Device<R>>),
        first_bad: None,
        range_checked: false,
    })
}

pub(super) fn soft_class_losses<B: Backend, R: CubeRuntime, const D: usize>(
    logits: Tensor<B, D>,
    targets: Tensor<B, D>,
    weight: Option<&Tensor<B, 1>>,
    spec: &ClassLossSpec,
) -> Result<Tensor<B, 1>, (Tensor<B, D>, Tensor<B, D>)> {
    let (Some(x), Some(t), false) = (
        device_float::<B, R, D>(&logits),
        device_float::<B, R, D>(&targets),
        targets.is_require_grad(),
    ) else {
        return Err((logits, targets));
    };
    let Some(weights) = device_weight::<B, R>(weight, spec.num_classes, x.inner()) else {
        return Err((logits, targets));
    };
    super::count_call();
    let logits_c = into_contiguous(x.inner().clone());
    let targets_c = StoredTargets::Dense(into_contiguous(t.inner().clone()));
    let state = ClassLossState::new(logits_c, targets_c, weights, spec);
    let pixels = state.pixels();
    let losses = empty(vec![pixels], &state.logits);
    let client = &state.logits.client;
    let (count, dim) = grid(client, pixels);
    let [c, s, _] = state.dims;
    kernels::soft_forward::launch::<R>(
        client,
        count,
        dim,
        state.logits.clone().into_tensor_arg(),
        state.targets.tensor().clone().into_tensor_arg(),
        state.weights.clone().into_tensor_arg(),
        state.params.clone().into_tensor_arg(),
        losses.clone().into_tensor_arg(),
        c,
        s,
        DType::F32.into(),
    );
    let tracked = |input: &AutodiffFloat<Device<R>>, losses| {
        register(ClassLossBackward, state, input, losses)
    };
    Ok(x.output::<B, 1>(losses, tracked))
}

#[derive(Debug)]
struct ClassLossBackward;

impl<R: CubeRuntime> Backward<Device<R>, 1> for ClassLossBackward {
    type State = ClassLossState<R>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let state = ops.state;
        unary::<Device<R>, _>(ops.parents, ops.node, grads, |upstream| {
            let grad = empty(state.logits.meta.shape().to_vec(), &state.logits);
            let client = &state.logits.client;
            let (count, dim) = grid(client, state.pixels());
            let [c, s, ignore] = state.dims;
            let (x, w, params) = (
                state.logits.clone().into_tensor_arg(),
                state.weights.clone().into_tensor_arg(),
                state.params.clone().into_tensor_arg(),
            );
            let (upstream_arg, grad_arg) = (
                upstream.clone().into_tensor_arg(),
                grad.clone().into_tensor_arg(),
            );
            match &state.targets {
                StoredTargets::Indices(t) => kernels::class_backward::launch::<R>(
                    client,
                    count,
                    dim,
                    x,
                    t.clone().into_tensor_arg(),
                    w,
                    params,
                    upstream_arg,
                    grad_arg,
                    c,
                    s,
                    ignore,
                    state.focal,
                    [DType::F32.into(), t.dtype.into()],
                ),
                StoredTargets::Dense(t) => kernels::soft_backward::launch::<R>(
                    client,
                    count,
                    dim,
                    x,
                    t.clone().into_tensor_arg(),
                    w,
                    params,
                    upstream_arg,
                    grad_arg,
                    c,
                    s,
                    DType::F32.into(),
                ),
            }
            grad
        });
    }
}

/// What the overlap's backward pass needs besides the upstream gradient.
#[derive(Debug, Clone)]
struct OverlapState<R: CubeRuntime> {
    input: CubeTensor<R>,
    targets: StoredTargets<R>,
    /// `[p]`.
    params: CubeTensor<R>,
    /// `C` and `S`.
    dims: [u32; 2],
    activation: Activation,
}

impl<R: CubeRuntime> OverlapState<R> {
    fn softmax(&self) -> bool {
        self.activation == Activation::Softmax
    }

    fn sigmoid(&self) -> bool {
        self.activation == Activation::Sigmoid
    }
}

/// Pixels per lane of the overlap sums: enough lanes to fill a device, few enough that each
/// thread sums a run of pixels.
const PIXELS_PER_LANE: usize = 64;
const MAX_LANES: usize = 1024;

pub(super) fn overlap<B: Backend, R: CubeRuntime, const D: usize, const K: usize>(
    input: Tensor<B, D>,
    targets: OverlapTargets<B, D, K>,
    [n, c, s]: [usize; 3],
    activation: Activation,
    p: f32,
) -> Result<Tensor<B, 3>, OverlapInputs<B, D, K>> {
    let stored = match &targets {
        OverlapTargets::Dense(y) if y.is_require_grad() => None,
        OverlapTargets::Dense(y) => device_float::<B, R, D>(y)
            .map(|y| StoredTargets::Dense(into_contiguous(y.inner().clone()))),
        OverlapTargets::Indices(t) => device_int::<B, R, K>(t).map(StoredTargets::Indices),
    };
    let (Some(x), Some(stored)) = (device_float::<B, R, D>(&input), stored) else {
        return Err((input, targets));
    };
    super::count_call();
    let input_c = into_contiguous(x.inner().clone());
    let state = OverlapState {
        params: upload(vec![p], &input_c),
        input: input_c,
        targets: stored,
        dims: [c as u32, s as u32],
        activation,
    };
    let lanes = s.div_ceil(PIXELS_PER_LANE).clamp(1, MAX_LANES);
    let partials = empty(vec![n, 3, c, lanes], &state.input);
    let client = &state.input.client;
    let (count, dim) = grid(client, n * c * lanes);
    let (x_arg, params, partials_arg) = (
        state.input.clone().into_tensor_arg(),
        state.params.clone().into_tensor_arg(),
        partials.clone().into_tensor_arg(),
    );
    let (softmax, sigmoid) = (state.softmax(), state.sigmoid());
    let lanes_u32 = lanes as u32;
    match &state.targets {
        StoredTargets::Dense(y) => kernels::overlap_dense::launch::<R>(
            client,
            count,
            dim,
            x_arg,
            y.clone().into_tensor_arg(),
            params,
            partials_arg,
            c as u32,
            s as u32,
            lanes_u32,
            softmax,
            sigmoid,
            DType::F32.into(),
        ),
        StoredTargets::Indices(t) => kernels::overlap_indices::launch::<R>(
            client,
            count,
            dim,
            x_arg,
            t.clone().into_tensor_arg(),
            params,
            partials_arg,
            c as u32,
            s as u32,
            lanes_u32,
            softmax,
            sigmoid,
            [DType::F32.into(), t.dtype.into()],
        ),
    }
    let stats = Tensor::<Device<R>, 4>::from_primitive(TensorPrimitive::Float(partials))
        .sum_dim(3)
        .reshape([n, 3, c])
        .into_primitive()
        .tensor();
    let tracked =
        |input: &AutodiffFloat<Device<R>>, stats| register(OverlapBackward, state, input, stats);
    Ok(x.output::<B, 3>(stats, tracked))
}

#[derive(Debug)]
struct OverlapBackward;

impl<R: CubeRuntime> Backward<Device<R>, 1> for OverlapBackward {
    type State = OverlapState<R>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let state = ops.state;
        unary::<Device<R>, _>(ops.parents, ops.node, grads, |upstream| {
            let grad = empty(state.input.meta.shape().to_vec(), &state.input);
            let [c, s] = state.dims;
            let client = &state.input.client;
            let pixels = state.input.meta.num_elements() / c as usize;
            let (count, dim) = grid(client, pixels);
            let (x, params, upstream_arg, grad_arg) = (
                state.input.clone().into_tensor_arg(),
                state.params.clone().into_tensor_arg(),
                upstream.clone().into_tensor_arg(),
                grad.clone().into_tensor_arg(),
            );
            let (softmax, sigmoid) = (state.softmax(), state.sigmoid());
            match &state.targets {
                StoredTargets::Dense(y) => kernels::overlap_dense_backward::launch::<R>(
                    client,
                    count,
                    dim,
                    x,
                    y.clone().into_tensor_arg(),
                    params,
                    upstream_arg,
                    grad_arg,
                    c,
                    s,
                    softmax,
                    sigmoid,
                    DType::F32.into(),
                ),
                StoredTargets::Indices(t) => kernels::overlap_indices_backward::launch::<R>(
                    client,
                    count,
                    dim,
                    x,
                    t.clone().into_tensor_arg(),
                    params,
                    upstream_arg,
                    grad_arg,
                    c,
                    s,
                    softmax,
                    sigmoid,
                    [DType::F32.into(), t.dtype.into()],
                ),
            }
            grad
        });
    }
}
