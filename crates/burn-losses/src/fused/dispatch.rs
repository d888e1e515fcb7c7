//! Which path a loss takes: the fused kernel where the backend is one this build has kernels
//! for (see the module docs of [`super`]), the caller's generic code otherwise.

use burn::tensor::{Int, Tensor, backend::Backend};

use super::{BinaryLossSpec, ClassLossSpec, ScoreSpec};
use crate::Activation;
use crate::functional::overlap::OverlapTargets;
#[cfg(feature = "fusion")]
use burn_fusion::Fusion;

/// The backend of the device kernels: `burn::backend::Wgpu` without Burn's `fusion`.
#[cfg(feature = "wgpu")]
type Wgpu = burn::backend::wgpu::CubeBackend<burn::backend::wgpu::WgpuRuntime, f32, i32, u32>;

/// The inputs of [`class_losses`], handed back where there is no kernel.
pub(super) type ClassInputs<B, const D: usize, const K: usize> = (Tensor<B, D>, Tensor<B, K, Int>);
/// The inputs of [`overlap_statistics`], handed back where there is no kernel.
pub(super) type OverlapInputs<B, const D: usize, const K: usize> =
    (Tensor<B, D>, OverlapTargets<B, D, K>);

/// Returns the kernel's result if it took the inputs, rebinds them to `$inputs` otherwise.
#[cfg(any(feature = "ndarray", feature = "flex", feature = "wgpu"))]
macro_rules! attempt {
    ($inputs:pat, $call:expr) => {
        let $inputs = match $call {
            Ok(out) => return Ok(out),
            Err(inputs) => inputs,
        };
    };
}

/// The loss from the fused kernel, reduced as the spec says (`[1]`, or `[N·S]` for `None`).
pub(crate) struct ClassLosses<B: Backend> {
    pub loss: Tensor<B, 1>,
    /// What the kernel found out about targets that are neither in `[0, C)` nor `ignore_index`.
    pub out_of_range: OutOfRange<B>,
}

/// Out-of-range class targets, as far as a kernel looked at them. (Host kernels construct
/// `First`, device kernels the others.)
#[cfg_attr(
    not(all(any(feature = "ndarray", feature = "flex"), feature = "wgpu")),
    allow(dead_code)
)]
pub(crate) enum OutOfRange<B: Backend> {
    /// The host kernels look on the way: the first such target in memory order, if any.
    First(Option<i64>),
    /// A device reduction counts them (`[1]`): read it to know.
    Counted(Tensor<B, 1>),
    /// Not looked at (an unreduced device pass): the caller checks.
    Unknown,
}

/// The softmax cross-entropy or focal loss of `[N, C, d1, .., dk]` logits against
/// `[N, d1, .., dk]` class indices on the fused kernel, or the inputs back where there is none.
/// The tensors are read as laid out, as `[N, C, S]` and `[N·S]`: no reshape (which copies a
/// shared tensor on ndarray).
pub(crate) fn class_losses<B: Backend, const D: usize, const K: usize>(
    logits: Tensor<B, D>,
    targets: Tensor<B, K, Int>,
    weight: Option<&Tensor<B, 1>>,
    spec: ClassLossSpec,
) -> Result<ClassLosses<B>, ClassInputs<B, D, K>> {
    if !super::is_enabled() {
        return Err((logits, targets));
    }
    #[cfg(feature = "ndarray")]
    attempt!(
        (logits, targets),
        host::class_losses::<B, burn::backend::NdArray<f32>, D, K>(logits, targets, weight, &spec)
    );
    #[cfg(feature = "flex")]
    attempt!(
        (logits, targets),
        host::class_losses::<B, burn::backend::Flex, D, K>(logits, targets, weight, &spec)
    );
    #[cfg(feature = "wgpu")]
    attempt!(
        (logits, targets),
        super::cube::class_losses::<B, Wgpu, D, K>(logits, targets, weight, &spec)
    );
    #[cfg(feature = "fusion")]
    attempt!(
        (logits, targets),
        super::cube::class_losses::<B, Fusion<Wgpu>, D, K>(logits, targets, weight, &spec)
    );
    let _ = (weight, spec);
    Err((logits, targets))
}

/// The softmax cross-entropy of `[N, C, d1, .., dk]` logits against same-shape probability
/// targets, per element `[N·S]`, on the fused kernel, or the inputs back where there is none
/// (or where the targets need a gradient).
pub(crate) fn soft_class_losses<B: Backend, const D: usize>(
    logits: Tensor<B, D>,
    targets: Tensor<B, D>,
    weight: Option<&Tensor<B, 1>>,
    spec: ClassLossSpec,
) -> Result<Tensor<B, 1>, (Tensor<B, D>, Tensor<B, D>)> {
    if !super::is_enabled() {
        return Err((logits, targets));
    }
    #[cfg(feature = "ndarray")]
    attempt!(
        (logits, targets),
        host::soft_class_losses::<B, burn::backend::NdArray<f32>, D>(
            logits, targets, weight, &spec
        )
    );
    #[cfg(feature = "flex")]
    attempt!(
        (logits, targets),
        host::soft_class_losses::<B, burn::backend::Flex, D>(logits, targets, weight, &spec)
    );
    #[cfg(feature = "wgpu")]
    attempt!(
        (logits, targets),
        super::cube::soft_class_losses::<B, Wgpu, D>(logits, targets, weight, &spec)
    );
    #[cfg(feature = "fusion")]
    attempt!(
        (logits, targets),
        super::cube::soft_class_losses::<B, Fusion<Wgpu>, D>(logits, targets, weight, &spec)
    );
    let _ = (weight, spec);
    Err((logits, targets))
}

/// The inputs of [`binary_losses`], handed back where there is no kernel.
pub(super) type BinaryInputs<B, const D: usize> = (Tensor<B, D>, Tensor<B, D>);

/// BCE with logits or the sigmoid focal loss of logits against same-shape float targets
/// (channels on axis 1 for the per-channel weights), reduced as the spec says (`[1]`, or every
/// element's loss for `None`), on the fused kernel; the inputs back where there is none (or
/// where the targets or weights need a gradient).
pub(crate) fn binary_losses<B: Backend, const D: usize>(
    logits: Tensor<B, D>,
    targets: Tensor<B, D>,
    weight: Option<&Tensor<B, 1>>,
    pos_weight: Option<&Tensor<B, 1>>,
    spec: BinaryLossSpec,
) -> Result<Tensor<B, 1>, BinaryInputs<B, D>> {
    if !super::is_enabled() {
        return Err((logits, targets));
    }
    #[cfg(feature = "ndarray")]
    attempt!(
        (logits, targets),
        host::binary_losses::<B, burn::backend::NdArray<f32>, D>(
            logits, targets, weight, pos_weight, &spec
        )
    );
    #[cfg(feature = "flex")]
    attempt!(
        (logits, targets),
        host::binary_losses::<B, burn::backend::Flex, D>(
            logits, targets, weight, pos_weight, &spec
        )
    );
    #[cfg(feature = "wgpu")]
    attempt!(
        (logits, targets),
        super::cube::binary_losses::<B, Wgpu, D>(logits, targets, weight, pos_weight, &spec)
    );
    #[cfg(feature = "fusion")]
    attempt!(
        (logits, targets),
        super::cube::binary_losses::<B, Fusion<Wgpu>, D>(
            logits, targets, weight, pos_weight, &spec
        )
    );
    let _ = (weight, pos_weight, spec);
    Err((logits, targets))
}

/// The overlap statistics `[N, 3, C]` (`I`, `P`, `T` per sample) of inputs read as `ncs`
/// (`[N, C, S]`, the same elements in the same order) on the fused kernel, or the inputs back
/// where there is none.
pub(crate) fn overlap_statistics<B: Backend, const D: usize, const K: usize>(
    input: Tensor<B, D>,
    targets: OverlapTargets<B, D, K>,
    ncs: [usize; 3],
    activation: Activation,
    p: f32,
) -> Result<Tensor<B, 3>, OverlapInputs<B, D, K>> {
    if !super::is_enabled() {
        return Err((input, targets));
    }
    #[cfg(feature = "ndarray")]
    attempt!(
        (input, targets),
        host::overlap::<B, burn::backend::NdArray<f32>, D, K>(input, targets, ncs, activation, p)
    );
    #[cfg(feature = "flex")]
    attempt!(
        (input, targets),
        host::overlap::<B, burn::backend::Flex, D, K>(input, targets, ncs, activation, p)
    );
    #[cfg(feature = "wgpu")]
    attempt!(
        (input, targets),
        super::cube::overlap::<B, Wgpu, D, K>(input, targets, ncs, activation, p)
    );
    #[cfg(feature = "fusion")]
    attempt!(
        (input, targets),
        super::cube::overlap::<B, Fusion<Wgpu>, D, K>(input, targets, ncs, activation, p)
    );
    let _ = (ncs, activation, p);
    Err((input, targets))
}

/// The Dice-family loss of overlap statistics `[N, 3, C]` (from [`overlap_statistics`]) as
/// `spec` says, with class weights `weight` (`None`: `1`), on the fused step; the statistics
/// back where there is none (another backend, or weights that need a gradient).
pub(crate) fn overlap_score<B: Backend>(
    stats: Tensor<B, 3>,
    weight: Option<&Tensor<B, 1>>,
    spec: &ScoreSpec,
) -> Result<Tensor<B, 1>, Tensor<B, 3>> {
    if !super::is_enabled() {
        return Err(stats);
    }
    #[cfg(feature = "ndarray")]
    attempt!(
        stats,
        host::overlap_score::<B, burn::backend::NdArray<f32>>(stats, weight, spec)
    );
    #[cfg(feature = "flex")]
    attempt!(
        stats,
        host::overlap_score::<B, burn::backend::Flex>(stats, weight, spec)
    );
    #[cfg(feature = "wgpu")]
    attempt!(
        stats,
        super::cube::overlap_score::<B, Wgpu>(stats, weight, spec)
    );
    #[cfg(feature = "fusion")]
    attempt!(
        stats,
        super::cube::overlap_score::<B, Fusion<Wgpu>>(stats, weight, spec)
    );
    let _ = (weight, spec);
    Err(stats)
}

#[cfg(any(feature = "ndarray", feature = "flex"))]
mod host {
    use std::sync::Arc;

    use rayon::prelude::*;

    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, unary};
    use burn::tensor::backend::Backend;
    use burn::tensor::{DType, Int, Tensor, TensorMetadata};

    use super::super::blocks;
    use super::super::fast_math::Power;
    use super::super::host::{HostBackend, HostInts};
    use super::super::overlap::{self, HostTargets, OverlapSpec};
    use super::super::primitive::{AutodiffFloat, Unwrapped, float_of, int_of, register};
    use super::super::score;
    use super::super::sigmoid_ce;
    use super::super::softmax_ce;
    use super::{
        BinaryInputs, BinaryLossSpec, ClassInputs, ClassLossSpec, ClassLosses, OutOfRange,
        OverlapInputs, ScoreSpec,
    };
    use crate::functional::overlap::OverlapTargets;
    use crate::{Activation, Reduction};

    /// The tensor's primitive (sharing its storage) if `B` is `I` or `Autodiff<I>` and the
    /// elements are f32 in host memory.
    fn host_float<B: Backend, I: HostBackend, const D: usize>(
        tensor: &Tensor<B, D>,
    ) -> Option<Unwrapped<I>> {
        // The dtype alone decides (reading a strided tensor here would copy it).
        float_of::<B, I, D>(tensor).filter(|t| t.inner().dtype() == DType::F32)
    }

    /// The int tensor's primitive if `B`'s is `I`'s and holds `i64` or `i32`.
    fn host_int<B: Backend, I: HostBackend, const D: usize>(
        tensor: &Tensor<B, D, Int>,
    ) -> Option<I::IntTensorPrimitive> {
        int_of::<B, I, D>(tensor).filter(|t| matches!(t.dtype(), DType::I64 | DType::I32))
    }

    fn floats<I: HostBackend>(tensor: &I::FloatTensorPrimitive) -> std::borrow::Cow<'_, [f32]> {
        I::floats(tensor).expect("an f32 host tensor (checked by the dispatcher)")
    }

    fn ints<I: HostBackend>(tensor: &I::IntTensorPrimitive) -> HostInts<'_> {
        I::ints(tensor).expect("an i64 or i32 host tensor (checked by the dispatcher)")
    }

    /// The class weights as host values: `Some(None)` without weights, `None` where they
    /// cannot be read or need a gradient (the generic path computes it).
    fn host_weight<B: Backend, I: HostBackend>(
        weight: Option<&Tensor<B, 1>>,
    ) -> Option<Option<Vec<f32>>> {
        match weight {
            None => Some(None),
            Some(w) if w.is_require_grad() => None,
            Some(w) => host_float::<B, I, 1>(w).map(|w| Some(floats::<I>(w.inner()).into_owned())),
        }
    }

    pub(super) fn class_losses<B: Backend, I: HostBackend, const D: usize, const K: usize>(
        logits: Tensor<B, D>,
        targets: Tensor<B, K, Int>,
        weight: Option<&Tensor<B, 1>>,
        spec: &ClassLossSpec,
    ) -> Result<ClassLosses<B>, ClassInputs<B, D, K>> {
        let (Some(x), Some(t), Some(weight)) = (
            host_float::<B, I, D>(&logits),
            host_int::<B, I, K>(&targets),
            host_weight::<B, I>(weight),
        ) else {
            return Err((logits, targets));
        };
        let shape = logits.dims().to_vec();
        let dims = [shape[0], shape[1], shape[2..].iter().product()];
        let spec = Arc::new(ClassLossSpec {
            weight,
            ..spec.clone()
        });
        super::super::count_call();
        if spec.reduction == Reduction::None {
            let forward = {
                let xs = floats::<I>(x.inner());
                match ints::<I>(&t) {
                    HostInts::I64(t) => softmax_ce::forward(&xs, &t, dims, &spec),
                    HostInts::I32(t) => softmax_ce::forward(&xs, &t, dims, &spec),
                }
            };
            let losses = I::from_floats(forward.losses, vec![dims[0] * dims[2]], x.inner());
            let tracked = |input: &AutodiffFloat<I>, losses| {
                let state = ClassLossState::<I> {
                    logits: input.primitive.clone(),
                    targets: StoredTargets::Indices(t.clone()),
                    dims,
                    shape,
                    spec: spec.clone(),
                    saved: Arc::new(forward.saved),
                };
                register(ClassLossBackward, state, input, losses)
            };
            return Ok(ClassLosses {
                loss: x.output::<B, 1>(losses, tracked),
                out_of_range: OutOfRange::First(forward.first_bad),
            });
        }
        // A reduced loss whose logits need a gradient gets it from the forward pass.
        let gradient = x.needs_gradient();
        let reduced = {
            let xs = floats::<I>(x.inner());
            match ints::<I>(&t) {
                HostInts::I64(t) => softmax_ce::forward_reduced(&xs, &t, dims, &spec, gradient),
                HostInts::I32(t) => softmax_ce::forward_reduced(&xs, &t, dims, &spec, gradient),
            }
        };
        let loss = I::from_floats(vec![reduced.loss], vec![1], x.inner());
        let tracked = |input: &AutodiffFloat<I>, loss| match reduced.gradient {
            Some(gradient) => {
                let state = GradientState {
                    gradient: Arc::new(gradient),
                    shape,
                    factor: 1.0,
                };
                register(ScaleGradient, state, input, loss)
            }
            None => register(ScaleGradient, GradientState::default(), input, loss),
        };
        Ok(ClassLosses {
            loss: x.output::<B, 1>(loss, tracked),
            out_of_range: OutOfRange::First(reduced.first_bad),
        })
    }

    pub(super) fn soft_class_losses<B: Backend, I: HostBackend, const D: usize>(
        logits: Tensor<B, D>,
        targets: Tensor<B, D>,
        weight: Option<&Tensor<B, 1>>,
        spec: &ClassLossSpec,
    ) -> Result<Tensor<B, 1>, (Tensor<B, D>, Tensor<B, D>)> {
        let (Some(x), Some(t), Some(weight), false) = (
            host_float::<B, I, D>(&logits),
            host_float::<B, I, D>(&targets),
            host_weight::<B, I>(weight),
            targets.is_require_grad(),
        ) else {
            return Err((logits, targets));
        };
        let shape = logits.dims().to_vec();
        let dims = [shape[0], shape[1], shape[2..].iter().product()];
        let spec = Arc::new(ClassLossSpec {
            weight,
            ..spec.clone()
        });
        super::super::count_call();
        let t = t.inner().clone();
        let (losses, saved) =
            softmax_ce::soft_forward(&floats::<I>(x.inner()), &floats::<I>(&t), dims, &spec);
        let losses = I::from_floats(losses, vec![dims[0] * dims[2]], x.inner());
        let tracked = |input: &AutodiffFloat<I>, losses| {
            let state = ClassLossState::<I> {
                logits: input.primitive.clone(),
                targets: StoredTargets::Dense(t.clone()),
                dims,
                shape,
                spec: spec.clone(),
                saved: Arc::new(saved),
            };
            register(ClassLossBackward, state, input, losses)
        };
        Ok(x.output::<B, 1>(losses, tracked))
    }

    pub(super) fn binary_losses<B: Backend, I: HostBackend, const D: usize>(
        logits: Tensor<B, D>,
        targets: Tensor<B, D>,
        weight: Option<&Tensor<B, 1>>,
        pos_weight: Option<&Tensor<B, 1>>,
        spec: &BinaryLossSpec,
    ) -> Result<Tensor<B, 1>, BinaryInputs<B, D>> {
        let (Some(x), Some(t), Some(weight), Some(pos_weight), false) = (
            host_float::<B, I, D>(&logits),
            host_float::<B, I, D>(&targets),
            host_weight::<B, I>(weight),
            host_weight::<B, I>(pos_weight),
            targets.is_require_grad(),
        ) else {
            return Err((logits, targets));
        };
        let shape = logits.dims().to_vec();
        let dims = BinaryLossSpec::dims(&shape);
        let spec = BinaryLossSpec {
            weight,
            pos_weight,
            ..spec.clone()
        };
        super::super::count_call();
        let forward = sigmoid_ce::forward(
            &floats::<I>(x.inner()),
            &floats::<I>(t.inner()),
            dims,
            &spec,
            x.needs_gradient(),
        );
        let len = forward.loss.len();
        let loss = I::from_floats(forward.loss, vec![len], x.inner());
        let tracked = |input: &AutodiffFloat<I>, loss| {
            let state = GradientState {
                gradient: Arc::new(forward.derivative.unwrap_or_default()),
                shape,
                factor: forward.factor,
            };
            register(ScaleGradient, state, input, loss)
        };
        Ok(x.output::<B, 1>(loss, tracked))
    }

    pub(super) fn overlap_score<B: Backend, I: HostBackend>(
        stats: Tensor<B, 3>,
        weight: Option<&Tensor<B, 1>>,
        spec: &ScoreSpec,
    ) -> Result<Tensor<B, 1>, Tensor<B, 3>> {
        let (Some(x), Some(weight)) = (host_float::<B, I, 3>(&stats), host_weight::<B, I>(weight))
        else {
            return Err(stats);
        };
        let [n, _, c] = stats.dims();
        let weight = weight.unwrap_or_else(|| vec![1.0; c]);
        let (loss, slopes) = score::forward(&floats::<I>(x.inner()), [n, c], &weight, spec);
        let len = loss.len();
        let loss = I::from_floats(loss, vec![len], x.inner());
        let tracked = |input: &AutodiffFloat<I>, loss| {
            let state = GradientState {
                gradient: Arc::new(slopes),
                shape: vec![n, 3, c],
                factor: 1.0,
            };
            register(ScaleGradient, state, input, loss)
        };
        Ok(x.output::<B, 1>(loss, tracked))
    }

    #[derive(Debug)]
    struct ClassLossBackward;

    #[derive(Debug, Clone)]
    struct ClassLossState<I: HostBackend> {
        logits: I::FloatTensorPrimitive,
        targets: StoredTargets<I>,
        dims: [usize; 3],
        /// The logits' own shape, the gradient's.
        shape: Vec<usize>,
        spec: Arc<ClassLossSpec>,
        saved: Arc<softmax_ce::Saved>,
    }

    impl<I: HostBackend> Backward<I, 1> for ClassLossBackward {
        type State = ClassLossState<I>;

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let state = ops.state;
            unary::<I, _>(ops.parents, ops.node, grads, |upstream| {
                let upstream = floats::<I>(&upstream);
                let x = floats::<I>(&state.logits);
                let (dims, spec, saved) = (state.dims, &state.spec, &state.saved);
                let grad = match &state.targets {
                    StoredTargets::Indices(t) => match ints::<I>(t) {
                        HostInts::I64(t) => {
                            softmax_ce::backward(&x, &t, dims, spec, saved, &upstream)
                        }
                        HostInts::I32(t) => {
                            softmax_ce::backward(&x, &t, dims, spec, saved, &upstream)
                        }
                    },
                    StoredTargets::Dense(t) => {
                        let t = floats::<I>(t);
                        softmax_ce::soft_backward(&x, &t, dims, spec, saved, &upstream)
                    }
                };
                I::from_floats(grad, state.shape.clone(), &state.logits)
            });
        }
    }

    /// The backward pass of a loss whose forward pass wrote its gradient (a reduced loss),
    /// each element's derivative (an unreduced one), or each row's (a per-sample Dice-family
    /// loss, one upstream value per sample's block of statistics): that times the upstream
    /// gradient, in place (handed over as it is where the upstream value is `1`).
    #[derive(Debug)]
    struct ScaleGradient;

    #[derive(Debug, Clone, Default)]
    struct GradientState {
        /// `∂loss/∂x`, or each element's `∂l/∂x`; shared only if Burn clones the state (then
        /// the backward pass copies it).
        gradient: Arc<Vec<f32>>,
        /// The logits' shape.
        shape: Vec<usize>,
        /// What the gradient still needs multiplying by (a mean's `1/count`, or `1`).
        factor: f32,
    }

    impl<I: HostBackend> Backward<I, 1> for ScaleGradient {
        type State = GradientState;

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let GradientState {
                gradient,
                shape,
                factor,
            } = ops.state;
            unary::<I, _>(ops.parents, ops.node, grads, |upstream| {
                let g = floats::<I>(&upstream);
                let mut gradient = Arc::try_unwrap(gradient).unwrap_or_else(|g| (*g).clone());
                match g[..] {
                    [g] if g * factor == 1.0 => {}
                    [g] => gradient.par_iter_mut().for_each(|v| *v *= g * factor),
                    _ if g.len() == gradient.len() => {
                        (gradient.par_iter_mut().zip(&g[..])).for_each(|(v, &g)| *v *= g * factor)
                    }
                    // One upstream value per row of equal blocks (a per-sample loss).
                    _ => {
                        let block = gradient.len() / g.len();
                        (gradient.chunks_mut(block).zip(&g[..]))
                            .for_each(|(row, &g)| row.iter_mut().for_each(|v| *v *= g * factor))
                    }
                }
                I::from_floats(gradient, shape, &upstream)
            });
        }
    }

    /// Class-index or dense (probability, one-hot, soft) targets, kept for the backward pass.
    #[derive(Debug, Clone)]
    enum StoredTargets<I: HostBackend> {
        Dense(I::FloatTensorPrimitive),
        Indices(I::IntTensorPrimitive),
    }

    /// Runs `$body` with `$targets` (a [`StoredTargets`]) as [`HostTargets`] bound to `$t`.
    macro_rules! with_targets {
        ($targets:expr, |$t:ident| $body:expr) => {
            match $targets {
                StoredTargets::Dense(y) => {
                    let y = floats::<I>(y);
                    let $t = HostTargets::<i64>::Dense(&y);
                    $body
                }
                StoredTargets::Indices(t) => match ints::<I>(t) {
                    HostInts::I64(t) => {
                        let $t = HostTargets::Indices(&t[..]);
                        $body
                    }
                    HostInts::I32(t) => {
                        let $t = HostTargets::Indices(&t[..]);
                        $body
                    }
                },
            }
        };
    }

    pub(super) fn overlap<B: Backend, I: HostBackend, const D: usize, const K: usize>(
        input: Tensor<B, D>,
        targets: OverlapTargets<B, D, K>,
        ncs: [usize; 3],
        activation: Activation,
        p: f32,
    ) -> Result<Tensor<B, 3>, OverlapInputs<B, D, K>> {
        let stored = match &targets {
            OverlapTargets::Dense(y) if y.is_require_grad() => None,
            OverlapTargets::Dense(y) => {
                host_float::<B, I, D>(y).map(|y| StoredTargets::Dense(y.inner().clone()))
            }
            OverlapTargets::Indices(t) => host_int::<B, I, K>(t).map(StoredTargets::Indices),
        };
        let (Some(x), Some(stored)) = (host_float::<B, I, D>(&input), stored) else {
            return Err((input, targets));
        };
        let input_shape = input.dims().to_vec();
        let spec = OverlapSpec {
            dims: ncs,
            activation,
            power: Power::new(p),
        };
        super::super::count_call();
        // Where the input needs a gradient, the activated input is kept for the backward
        // pass, in the buffer that becomes the gradient.
        let mut activations = x
            .needs_gradient()
            .then(|| blocks::zeros(ncs.iter().product()));
        let stats = {
            let xs = floats::<I>(x.inner());
            let out = activations.as_deref_mut();
            with_targets!(&stored, |t| overlap::forward(&xs, t, spec, out))
        };
        let stats = I::from_floats(stats, vec![ncs[0], 3, ncs[1]], x.inner());
        let tracked = |input: &AutodiffFloat<I>, stats| {
            let state = OverlapState::<I> {
                activations: Arc::new(activations.unwrap_or_default()),
                targets: stored.clone(),
                shape: input_shape.clone(),
                spec,
            };
            register(OverlapBackward, state, input, stats)
        };
        Ok(x.output::<B, 3>(stats, tracked))
    }

    #[derive(Debug)]
    struct OverlapBackward;

    #[derive(Debug, Clone)]
    struct OverlapState<I: HostBackend> {
        /// The activated input `[N, C, S]`, written over by the gradient (copied first only if
        /// Burn shares the state).
        activations: Arc<Vec<f32>>,
        targets: StoredTargets<I>,
        /// The input's own shape, the gradient's.
        shape: Vec<usize>,
        spec: OverlapSpec,
    }

    impl<I: HostBackend> Backward<I, 1> for OverlapBackward {
        type State = OverlapState<I>;

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let state = ops.state;
            unary::<I, _>(ops.parents, ops.node, grads, |upstream| {
                let g = floats::<I>(&upstream);
                let activations =
                    Arc::try_unwrap(state.activations).unwrap_or_else(|a| (*a).clone());
                let grad = with_targets!(&state.targets, |t| overlap::backward(
                    activations,
                    t,
                    state.spec,
                    &g
                ));
                I::from_floats(grad, state.shape.clone(), &upstream)
            });
        }
    }
}
