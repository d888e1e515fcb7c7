//! Each pass of the device kernels as a function of the `CubeTensor`s it reads: what both the
//! direct backend and Burn's `Fusion` (a custom operation) run.

use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::tensor::{DType, Shape, Tensor, TensorPrimitive};
use burn_cubecl::CubeRuntime;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use cubecl::prelude::{ComputeClient, CubeCount};
use cubecl::{CubeDim, calculate_cube_count_elemwise};

use super::kernels;
use crate::{Activation, EmptyClass, Reduction};

/// One pass. Inputs, in order (`targets` is the only int tensor, and only with class
/// indices); outputs are f32.
///
/// | pass | inputs | outputs |
/// |---|---|---|
/// | `ClassForward` | logits, targets, weights, params | losses `[N·S]`; reduced: loss, scale, out-of-range count (`[1]` each) |
/// | `ClassBackward` | logits, targets, weights, params, scale, upstream | `∂L/∂logits` |
/// | `SoftForward` | logits, targets, weights, params | losses `[N·S]` |
/// | `SoftBackward` | logits, targets, weights, params, upstream | `∂L/∂logits` |
/// | `OverlapForward` | input, targets, params | `[N, 3, C]` (`I`, `P`, `T`) |
/// | `OverlapBackward` | input, targets, params, upstream | `∂L/∂input` |
/// | `SigmoidForward` | logits, targets, weights, pos_weights, params | losses `[N·C·S]`; reduced: loss, scale, count (`[1]` each) |
/// | `SigmoidBackward` | logits, targets, weights, pos_weights, params, scale, upstream | `∂L/∂logits` |
/// | `ScoreForward` | statistics `[N, 3, C]`, weights, params | loss (`[1]`, or `[R]` for `None`), slopes `[N, 3, C]` |
/// | `ScoreBackward` | slopes, upstream | `∂L/∂statistics` |
///
/// `params` is `[1 − ε, ε/C, γ]` for the class losses, `[p]` for the overlap and `[ε,
/// ignore_value, has_ignore, α, has_α, γ]` for the sigmoid losses, `[a, b, u, v, s_nr, s_dr, γ,
/// |I|, included_0, ..]` for the score (see `ScoreSpec`); `scale` is the factor from
/// the upstream gradient to each pixel's (`1/Σ d` for a mean).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Pass {
    ClassForward {
        /// Focal with `γ > 0`.
        focal: bool,
        /// Focal: each pixel weighs `1` in the mean, not `w_y`.
        unit_denominator: bool,
        /// `ignore_index` where it lies in `[0, C)`, `C` otherwise.
        ignore: u32,
        /// `ignore_index` where it lies outside `[0, C)` and within `i32`.
        outside_ignore: Option<i64>,
        /// `Sum` and `Mean` reduce in a second launch, which also counts the out-of-range
        /// targets.
        reduction: Reduction,
    },
    ClassBackward {
        focal: bool,
        ignore: u32,
        /// The loss was reduced: one upstream value for every pixel.
        uniform: bool,
    },
    SoftForward,
    SoftBackward,
    OverlapForward {
        indices: bool,
        activation: Activation,
    },
    OverlapBackward {
        indices: bool,
        activation: Activation,
    },
    SigmoidForward {
        /// The sigmoid focal loss (BCE with logits otherwise).
        focal: bool,
        /// Focal with `γ > 0`.
        power: bool,
        reduction: Reduction,
    },
    SigmoidBackward {
        focal: bool,
        power: bool,
        uniform: bool,
    },
    /// One cube.
    ScoreForward {
        /// Generalized Dice (`empty` unused), else a ratio score.
        generalized: bool,
        /// One row pooled over the batch.
        batch: bool,
        empty: EmptyClass,
        reduction: Reduction,
    },
    ScoreBackward,
}

/// Pixels per lane of the overlap sums: enough lanes to fill a device, few enough that each
/// thread sums a run of pixels.
const PIXELS_PER_LANE: usize = 64;
const MAX_LANES: usize = 1024;

impl Pass {
    /// The index of the int input, if any (what `Fusion` fetches as an int tensor).
    #[cfg_attr(not(feature = "fusion"), allow(dead_code))]
    pub fn int_input(self) -> Option<usize> {
        match self {
            Self::ClassForward { .. } | Self::ClassBackward { .. } => Some(1),
            Self::OverlapForward { indices, .. } | Self::OverlapBackward { indices, .. } => {
                indices.then_some(1)
            }
            Self::SoftForward
            | Self::SoftBackward
            | Self::SigmoidForward { .. }
            | Self::SigmoidBackward { .. }
            | Self::ScoreForward { .. }
            | Self::ScoreBackward => None,
        }
    }

    /// The shapes of the outputs, from that of the first input (`[N, C, d1, .., dk]`; the
    /// statistics `[N, 3, C]` for the score).
    pub fn output_shapes(self, input: &Shape) -> Vec<Shape> {
        let [n, c, s] = ncs(input.as_slice());
        match self {
            Self::ScoreForward {
                batch: false,
                reduction: Reduction::None,
                ..
            } => vec![Shape::new([n]), input.clone()],
            Self::ScoreForward { .. } => vec![Shape::new([1]), input.clone()],
            Self::ClassForward {
                reduction: Reduction::None,
                ..
            } => vec![Shape::new([n * s])],
            Self::ClassForward { .. } => vec![Shape::new([1]); 3],
            Self::SoftForward => vec![Shape::new([n * s])],
            Self::OverlapForward { .. } => vec![Shape::new([n, 3, c])],
            Self::SigmoidForward {
                reduction: Reduction::None,
                ..
            } => vec![Shape::new([n * c * s])],
            Self::SigmoidForward { .. } => vec![Shape::new([1]); 3],
            Self::ClassBackward { .. }
            | Self::SoftBackward
            | Self::OverlapBackward { .. }
            | Self::SigmoidBackward { .. }
            | Self::ScoreBackward => vec![input.clone()],
        }
    }

    /// Runs the pass (one launch; the overlap sums one more).
    pub fn run<R: CubeRuntime>(self, inputs: Vec<CubeTensor<R>>) -> Vec<CubeTensor<R>> {
        let inputs: Vec<_> = inputs.into_iter().map(into_contiguous).collect();
        if let Self::OverlapForward {
            indices,
            activation,
        } = self
        {
            return vec![overlap_sums(&inputs, indices, activation)];
        }
        if matches!(self, Self::ScoreForward { .. } | Self::ScoreBackward) {
            return self.run_score(&inputs);
        }
        let x = &inputs[0];
        let [n, c, s] = ncs(x.meta.shape());
        let outputs: Vec<_> = self
            .output_shapes(x.meta.shape())
            .into_iter()
            .map(|shape| empty(x, shape))
            .collect();
        let client = &x.client;
        let arg = |i: usize| inputs[i].clone().into_tensor_arg();
        let out = |i: usize| outputs[i].clone().into_tensor_arg();
        let int_dtype = inputs[1].dtype;
        let (classes, pixels) = (c as u32, s as u32);
        let (count, dim) = grid(client, n * s);
        let (elements, element_dim) = grid(client, n * c * s);
        match self {
            Self::ClassForward {
                focal,
                unit_denominator,
                ignore,
                outside_ignore,
                reduction,
            } => {
                // Unreduced, the losses are the output.
                let losses = match reduction {
                    Reduction::None => outputs[0].clone(),
                    _ => empty(x, Shape::new([n * s])),
                };
                let denominators = empty(x, Shape::new([n * s]));
                kernels::class_forward::launch::<R>(
                    client,
                    count,
                    dim,
                    arg(0),
                    arg(1),
                    arg(2),
                    arg(3),
                    losses.clone().into_tensor_arg(),
                    denominators.clone().into_tensor_arg(),
                    classes,
                    pixels,
                    ignore,
                    focal,
                    unit_denominator,
                    outside_ignore.unwrap_or_default(),
                    outside_ignore.is_some(),
                    [DType::F32.into(), int_dtype.into()],
                );
                reduce(client, losses, denominators, &outputs, reduction);
            }
            Self::ClassBackward {
                focal,
                ignore,
                uniform,
            } => kernels::class_backward::launch::<R>(
                client,
                count,
                dim,
                arg(0),
                arg(1),
                arg(2),
                arg(3),
                arg(4),
                arg(5),
                out(0),
                classes,
                pixels,
                ignore,
                focal,
                uniform,
                [DType::F32.into(), int_dtype.into()],
            ),
            Self::SoftForward => kernels::soft_forward::launch::<R>(
                client,
                count,
                dim,
                arg(0),
                arg(1),
                arg(2),
                arg(3),
                out(0),
                classes,
                pixels,
                DType::F32.into(),
            ),
            Self::SoftBackward => kernels::soft_backward::launch::<R>(
                client,
                count,
                dim,
                arg(0),
                arg(1),
                arg(2),
                arg(3),
                arg(4),
                out(0),
                classes,
                pixels,
                DType::F32.into(),
            ),
            Self::SigmoidForward {
                focal,
                power,
                reduction,
            } => {
                let losses = match reduction {
                    Reduction::None => outputs[0].clone(),
                    _ => empty(x, Shape::new([n * c * s])),
                };
                let counts = empty(x, Shape::new([n * c * s]));
                kernels::sigmoid_forward::launch::<R>(
                    client,
                    elements,
                    element_dim,
                    arg(0),
                    arg(1),
                    arg(2),
                    arg(3),
                    arg(4),
                    losses.clone().into_tensor_arg(),
                    counts.clone().into_tensor_arg(),
                    classes,
                    pixels,
                    focal,
                    power,
                    DType::F32.into(),
                );
                reduce(client, losses, counts, &outputs, reduction);
            }
            Self::SigmoidBackward {
                focal,
                power,
                uniform,
            } => kernels::sigmoid_backward::launch::<R>(
                client,
                elements,
                element_dim,
                arg(0),
                arg(1),
                arg(2),
                arg(3),
                arg(4),
                arg(5),
                arg(6),
                out(0),
                classes,
                pixels,
                focal,
                power,
                uniform,
                DType::F32.into(),
            ),
            Self::OverlapForward { .. } | Self::ScoreForward { .. } | Self::ScoreBackward => {
                unreachable!("returned above")
            }
            Self::OverlapBackward {
                indices,
                activation,
            } => {
                let [softmax, sigmoid] = flags(activation);
                if indices {
                    kernels::overlap_indices_backward::launch::<R>(
                        client,
                        count,
                        dim,
                        arg(0),
                        arg(1),
                        arg(2),
                        arg(3),
                        out(0),
                        classes,
                        pixels,
                        softmax,
                        sigmoid,
                        [DType::F32.into(), int_dtype.into()],
                    )
                } else {
                    kernels::overlap_dense_backward::launch::<R>(
                        client,
                        count,
                        dim,
                        arg(0),
                        arg(1),
                        arg(2),
                        arg(3),
                        out(0),
                        classes,
                        pixels,
                        softmax,
                        sigmoid,
                        DType::F32.into(),
                    )
                }
            }
        }
        outputs
    }
}

impl Pass {
    /// `ScoreForward` (one cube) or `ScoreBackward` (one thread per statistic).
    fn run_score<R: CubeRuntime>(self, inputs: &[CubeTensor<R>]) -> Vec<CubeTensor<R>> {
        let stats = &inputs[0];
        let client = &stats.client;
        let [n, _, c] = ncs(stats.meta.shape());
        let outputs: Vec<_> = self
            .output_shapes(stats.meta.shape())
            .into_iter()
            .map(|shape| empty(stats, shape))
            .collect();
        let arg = |i: usize| inputs[i].clone().into_tensor_arg();
        let out = |i: usize| outputs[i].clone().into_tensor_arg();
        match self {
            Self::ScoreForward {
                generalized,
                batch,
                empty: policy,
                reduction,
            } => kernels::overlap_score::launch::<R>(
                client,
                CubeCount::Static(1, 1, 1),
                CubeDim::new_1d(kernels::REDUCE_THREADS as u32),
                arg(0),
                arg(1),
                arg(2),
                out(0),
                out(1),
                n as u32,
                c as u32,
                generalized,
                batch,
                policy == EmptyClass::Zero,
                policy == EmptyClass::Exclude,
                reduction != Reduction::None,
                reduction == Reduction::Mean,
                DType::F32.into(),
            ),
            Self::ScoreBackward => {
                let len = n * 3 * c;
                let block = len / inputs[1].meta.shape().num_elements();
                let (count, dim) = grid(client, len);
                kernels::overlap_score_backward::launch::<R>(
                    client,
                    count,
                    dim,
                    arg(0),
                    arg(1),
                    out(0),
                    block as u32,
                    DType::F32.into(),
                )
            }
            _ => unreachable!("a score pass"),
        }
        outputs
    }
}

/// For `Sum` and `Mean`, `outputs` (loss, scale, out-of-range count) from each element's
/// loss and weight in the mean: one launch of one cube. Nothing for `None`.
fn reduce<R: CubeRuntime>(
    client: &ComputeClient<R>,
    losses: CubeTensor<R>,
    denominators: CubeTensor<R>,
    outputs: &[CubeTensor<R>],
    reduction: Reduction,
) {
    if reduction == Reduction::None {
        return;
    }
    let out = |i: usize| outputs[i].clone().into_tensor_arg();
    kernels::reduce_class_losses::launch::<R>(
        client,
        CubeCount::Static(1, 1, 1),
        CubeDim::new_1d(kernels::REDUCE_THREADS as u32),
        losses.into_tensor_arg(),
        denominators.into_tensor_arg(),
        out(0),
        out(1),
        out(2),
        reduction == Reduction::Mean,
        DType::F32.into(),
    )
}

/// `[N, C, S]` of a `[N, C, d1, .., dk]` shape.
pub(crate) fn ncs(shape: &[usize]) -> [usize; 3] {
    [shape[0], shape[1], shape[2..].iter().product()]
}

/// An uninitialised f32 tensor of `shape` beside `like`.
fn empty<R: CubeRuntime>(like: &CubeTensor<R>, shape: Shape) -> CubeTensor<R> {
    empty_device_dtype::<R>(like.client.clone(), like.device.clone(), shape, DType::F32)
}

/// One thread per unit.
fn grid<R: CubeRuntime>(client: &ComputeClient<R>, units: usize) -> (CubeCount, CubeDim) {
    let dim = CubeDim::new(client, units);
    (calculate_cube_count_elemwise(client, units, dim), dim)
}

/// `[softmax, sigmoid]` for the kernels' compile-time switches.
fn flags(activation: Activation) -> [bool; 2] {
    [
        activation == Activation::Softmax,
        activation == Activation::Sigmoid,
    ]
}

/// The overlap statistics `[N, 3, C]`: per-lane sums, then their sum over the lanes.
fn overlap_sums<R: CubeRuntime>(
    inputs: &[CubeTensor<R>],
    indices: bool,
    activation: Activation,
) -> CubeTensor<R> {
    let x = &inputs[0];
    let client = &x.client;
    let [n, c, s] = ncs(x.meta.shape());
    let (classes, pixels) = (c as u32, s as u32);
    let arg = |i: usize| inputs[i].clone().into_tensor_arg();
    let [softmax, sigmoid] = flags(activation);
    let lanes = s.div_ceil(PIXELS_PER_LANE).clamp(1, MAX_LANES);
    let partials = empty(x, Shape::new([n, 3, c, lanes]));
    let (count, dim) = grid(client, n * c * lanes);
    let partials_arg = partials.clone().into_tensor_arg();
    if indices {
        kernels::overlap_indices::launch::<R>(
            client,
            count,
            dim,
            arg(0),
            arg(1),
            arg(2),
            partials_arg,
            classes,
            pixels,
            lanes as u32,
            softmax,
            sigmoid,
            [DType::F32.into(), inputs[1].dtype.into()],
        )
    } else {
        kernels::overlap_dense::launch::<R>(
            client,
            count,
            dim,
            arg(0),
            arg(1),
            arg(2),
            partials_arg,
            classes,
            pixels,
            lanes as u32,
            softmax,
            sigmoid,
            DType::F32.into(),
        )
    }
    // The lanes' sum: one reduction launch.
    Tensor::<CubeBackend<R, f32, i32, u32>, 4>::from_primitive(TensorPrimitive::Float(partials))
        .sum_dim(3)
        .reshape([n, 3, c])
        .into_primitive()
        .tensor()
}
