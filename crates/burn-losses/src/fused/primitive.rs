//! Moving tensors between a loss's backend `B` and a backend `I` with kernels, where `B` is `I`
//! or `Autodiff<I>`: the downcast through [`Any`], the wrapping of a kernel's result, and the
//! registration of its backward node. Shared by the host (ndarray, flex) and device (wgpu)
//! dispatchers.

use std::any::Any;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::ops::{Backward, OpsKind};
use burn::tensor::backend::{AutodiffBackend, Backend, BackendTypes};
use burn::tensor::{Int, Tensor, TensorPrimitive};

/// `a` as a `T` if `A` is `T`, else `a` back.
fn cast<A: 'static, T: 'static>(a: A) -> Result<T, A> {
    let mut slot = Some(a);
    match (&mut slot as &mut dyn Any).downcast_mut::<Option<T>>() {
        Some(t) => Ok(t.take().expect("filled above")),
        None => Err(slot.expect("untouched")),
    }
}

/// `a` as a `T` where the dispatcher has established that `A` is `T`.
fn same<A: 'static, T: 'static>(a: A) -> T {
    cast(a).unwrap_or_else(|_| unreachable!("the dispatcher checked the type"))
}

/// The float primitive of `Autodiff<I>`.
pub(crate) type AutodiffFloat<I> = <Autodiff<I> as BackendTypes>::FloatTensorPrimitive;

/// A float tensor of `B`, where `B` is `I` or `Autodiff<I>`.
pub(crate) enum Unwrapped<I: Backend> {
    Plain(I::FloatTensorPrimitive),
    Tracked(AutodiffFloat<I>),
}

impl<I: Backend> Unwrapped<I> {
    /// The primitive of `I` (the autodiff tensor's inner one).
    pub fn inner(&self) -> &I::FloatTensorPrimitive {
        match self {
            Self::Plain(p) => p,
            Self::Tracked(t) => &t.primitive,
        }
    }

    /// Whether autodiff will want the gradient of this input (a tracked tensor that needs one).
    #[cfg_attr(not(any(feature = "ndarray", feature = "flex")), allow(dead_code))]
    pub fn needs_gradient(&self) -> bool {
        matches!(self, Self::Tracked(t) if !t.node.requirement.is_none())
    }

    /// A float result of a kernel as `B`'s tensor: as it is for a plain input, through
    /// `tracked` (given the autodiff input) for an autodiff one.
    pub fn output<B: Backend, const D: usize>(
        &self,
        primitive: I::FloatTensorPrimitive,
        tracked: impl FnOnce(&AutodiffFloat<I>, I::FloatTensorPrimitive) -> AutodiffFloat<I>,
    ) -> Tensor<B, D> {
        let primitive: B::FloatTensorPrimitive = match self {
            Self::Plain(_) => same(primitive),
            Self::Tracked(input) => same(tracked(input, primitive)),
        };
        Tensor::from_primitive(TensorPrimitive::Float(primitive))
    }
}

/// The tensor's primitive (sharing its storage) if `B` is `I` or `Autodiff<I>`; the caller
/// checks the dtype.
pub(crate) fn float_of<B: Backend, I: Backend, const D: usize>(
    tensor: &Tensor<B, D>,
) -> Option<Unwrapped<I>> {
    let TensorPrimitive::Float(primitive) = tensor.clone().into_primitive() else {
        return None;
    };
    match cast::<_, I::FloatTensorPrimitive>(primitive) {
        Ok(p) => Some(Unwrapped::Plain(p)),
        Err(p) => cast::<_, AutodiffFloat<I>>(p).ok().map(Unwrapped::Tracked),
    }
}

/// The int tensor's primitive if `B`'s is `I`'s; the caller checks the dtype.
pub(crate) fn int_of<B: Backend, I: Backend, const D: usize>(
    tensor: &Tensor<B, D, Int>,
) -> Option<I::IntTensorPrimitive> {
    cast::<_, I::IntTensorPrimitive>(tensor.clone().into_primitive()).ok()
}

/// A result that carries no gradient (a count).
#[cfg_attr(not(feature = "wgpu"), allow(dead_code))]
pub(crate) fn untracked<I: Backend>(
    _: &AutodiffFloat<I>,
    primitive: I::FloatTensorPrimitive,
) -> AutodiffFloat<I> {
    <Autodiff<I> as AutodiffBackend>::from_inner(primitive)
}

/// `output` registered as the result of `op` on `input`, with `state` for its backward pass
/// (kept, never recomputed: `NoCheckpointing`'s rules).
pub(crate) fn register<I: Backend, O: Backward<I, 1>>(
    op: O,
    state: O::State,
    input: &AutodiffFloat<I>,
    output: I::FloatTensorPrimitive,
) -> AutodiffFloat<I> {
    match op
        .prepare::<NoCheckpointing>([input.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}
