//! The fused kernels against the generic tensor-op path (`burn_losses::fused`): random logits
//! and targets over shapes with `C = 1`, `S = 1`, odd sizes, tiles and blocks cut short, and
//! every option of every loss the kernels carry; values and gradients, under an upstream
//! gradient that differs per element; on every backend (ndarray, flex, wgpu) the test also
//! checks that the fused path was taken.

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn_losses::*;
use burn_losses_conformance::*;

/// Shapes `[N, C, d1, ..]` (rank 3 or 4): one class, one pixel, odd sizes, a tile (64 pixels)
/// and a block (4096) cut short, and a block past a full row tile (512, the elementwise
/// activations' tile) whose next row tile is cut short (4611 = 4096 + 512 + 3).
const SHAPES: [[usize; 4]; 6] = [
    [1, 1, 1, 1],
    [2, 3, 1, 1],
    [3, 5, 7, 3],
    [1, 2, 65, 1],
    [2, 4, 4611, 1],
    [4, 1, 9, 2],
];

/// Both paths' loss and input gradient (the loss weighted per element by `upstream`).
fn run<B: AutodiffBackend, const D: usize>(
    fused: bool,
    logits: &Tensor<B, D>,
    loss: &dyn Fn(Tensor<B, D>) -> Tensor<B, 1>,
) -> (Vec<f64>, Vec<f64>, bool) {
    burn_losses::fused::set_enabled(fused);
    let x = logits.clone().detach().require_grad();
    let calls = burn_losses::fused::calls();
    let out = loss(x.clone());
    let took_fused = burn_losses::fused::calls() > calls;
    burn_losses::fused::set_enabled(true);
    let [len] = out.dims();
    let upstream = float_tensor::<B, 1>(&pseudo_random(len, 7, 1.0), &[len], &logits.device());
    let grads = (out.clone() * upstream).sum().backward();
    (
        values(out),
        values(x.grad(&grads).expect("a gradient")),
        took_fused,
    )
}

/// Asserts that both paths agree on `logits` for `loss`.
fn agree<B: AutodiffBackend, const D: usize>(
    ctx: &Ctx<B>,
    what: &str,
    logits: Tensor<B, D>,
    loss: impl Fn(Tensor<B, D>) -> Tensor<B, 1>,
) {
    compare(ctx, what, logits, loss, true);
}

/// A reduced loss: both paths' gradients agree, and the fused value is the generic path's
/// per-element losses (`elements`) summed in f64 over `divisor` (flex's generic reduction sums
/// in f32 in order, 1e-5 off over 32792 elements; the kernels sum in f64).
fn agree_reduced<B: AutodiffBackend, const D: usize>(
    ctx: &Ctx<B>,
    what: &str,
    logits: Tensor<B, D>,
    (loss, elements): (
        impl Fn(Tensor<B, D>) -> Tensor<B, 1>,
        impl Fn(Tensor<B, D>) -> Tensor<B, 1>,
    ),
    divisor: f64,
) {
    let (fast, _, _) = run(true, &logits, &loss);
    let (per_element, _, _) = run(false, &logits, &elements);
    let expected = per_element.iter().sum::<f64>() / divisor;
    let name = format!("[{}] {what} {:?} value", ctx.name, logits.dims());
    assert_close(&name, &fast, &[expected], ctx.tol);
    compare(ctx, what, logits, loss, false);
}

/// [`agree_reduced`] for `Sum` and `Mean` (over `count` elements) of `loss(reduction, x)`.
fn agree_sum_and_mean<B: AutodiffBackend, const D: usize>(
    ctx: &Ctx<B>,
    what: &str,
    logits: Tensor<B, D>,
    loss: impl Fn(Reduction, Tensor<B, D>) -> Tensor<B, 1>,
    count: f64,
) {
    for (reduction, divisor) in [(Reduction::Sum, 1.0), (Reduction::Mean, count)] {
        let losses = (|x| loss(reduction, x), |x| loss(Reduction::None, x));
        let what = format!("{what} {reduction:?}");
        agree_reduced(ctx, &what, logits.clone(), losses, divisor);
    }
}

/// Asserts that both paths agree on `logits` for `loss`: gradients, and values if asked.
fn compare<B: AutodiffBackend, const D: usize>(
    ctx: &Ctx<B>,
    what: &str,
    logits: Tensor<B, D>,
    loss: impl Fn(Tensor<B, D>) -> Tensor<B, 1>,
    check_values: bool,
) {
    let (fast, fast_grad, took_fused) = run(true, &logits, &loss);
    let (generic, generic_grad, generic_fused) = run(false, &logits, &loss);
    assert!(
        !generic_fused,
        "{what}: the switch did not turn the kernels off"
    );
    assert!(
        took_fused,
        "[{}] {what}: the fused path was not taken",
        ctx.name
    );
    // Both are f32 computations of the same formula; a formula or indexing error shows at 1e-3.
    let what = format!("[{}] {what} {:?}", ctx.name, logits.dims());
    if check_values {
        assert_close(&format!("{what} value"), &fast, &generic, ctx.tol);
    }
    assert_close(&format!("{what} grad"), &fast_grad, &generic_grad, ctx.tol);
}

fn logits<B: Backend, const D: usize>(
    shape: &[usize],
    seed: u64,
    scale: f64,
    device: &B::Device,
) -> Tensor<B, D> {
    let len = shape.iter().product();
    float_tensor(&pseudo_random(len, seed, scale), shape, device)
}

/// Class indices in `[low, C + extra)`.
fn labels<B: Backend, const K: usize>(
    shape: &[usize],
    classes: usize,
    low: i64,
    extra: i64,
    seed: u64,
    device: &B::Device,
) -> Tensor<B, K, Int> {
    let len: usize = shape.iter().product();
    let span = (classes as i64 + extra - low) as f64;
    let raw: Vec<f64> = pseudo_random(len, seed, 0.5)
        .into_iter()
        .map(|u| (low as f64 + ((u + 0.5) * span).floor()).min(classes as f64 + extra as f64 - 1.0))
        .collect();
    int_tensor(&raw, shape, device)
}

fn class_weights(classes: usize) -> Vec<f32> {
    (0..classes).map(|c| 0.5 + 0.25 * c as f32).collect()
}

/// Cross-entropy (class indices and probability targets) and focal losses: weights,
/// `ignore_index` pixels, smoothing, every reduction, `gamma` 0, 0.5, 2; rank 2 (`[N, C]`), 3
/// and 4; logits of scale 3 and 1e4.
fn softmax_losses<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let device = &ctx.device;
    for (k, shape) in SHAPES.iter().enumerate() {
        let [n, c, h, w] = *shape;
        for (scale, seed) in [(3.0, k as u64), (1e4, 100 + k as u64)] {
            let x4 = logits::<B, 4>(shape, seed, scale, device);
            let t3 = labels::<B, 3>(&[n, h, w], c, -1, 0, seed + 1, device);
            let x3: Tensor<B, 3> = x4.clone().reshape([n, c, h * w]);
            let t2: Tensor<B, 2, Int> = t3.clone().reshape([n, h * w]);
            let x2: Tensor<B, 2> = logits(&[n * h, c], seed + 2, scale, device);
            let t1 = labels::<B, 1>(&[n * h], c, -1, 0, seed + 3, device);
            for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
                for (weight, smoothing) in [(None, 0.0), (Some(class_weights(c)), 0.1)] {
                    let ce = CrossEntropyLossConfig::new()
                        .with_weight(weight)
                        .with_ignore_index(-1)
                        .with_label_smoothing(smoothing)
                        .with_reduction(reduction)
                        .init::<B>(device);
                    let name = format!("ce {reduction:?} smoothing {smoothing}");
                    if reduction == Reduction::None {
                        agree(ctx, &name, x4.clone(), |x| {
                            ce.forward_no_reduction(x, t3.clone()).flatten(0, 2)
                        });
                    } else {
                        agree(ctx, &name, x4.clone(), |x| ce.forward(x, t3.clone()));
                    }
                    agree(ctx, &name, x3.clone(), |x| ce.forward(x, t2.clone()));
                    // A strided view (targets too): the kernel reads it in logical order.
                    let t_swapped = t3.clone().swap_dims(1, 2);
                    agree(ctx, &format!("{name} swapped"), x4.clone(), |x| {
                        ce.forward(x.swap_dims(2, 3), t_swapped.clone())
                    });
                    agree(ctx, &name, x2.clone(), |x| ce.forward(x, t1.clone()));
                }
                let soft3: Tensor<B, 3> = logits::<B, 3>(&[n, c, h * w], seed + 4, 2.0, device)
                    .exp()
                    .clamp_max(1.0);
                let soft2: Tensor<B, 2> = logits::<B, 2>(&[n * h, c], seed + 5, 2.0, device)
                    .exp()
                    .clamp_max(1.0);
                for smoothing in [0.0, 0.2] {
                    let ce = CrossEntropyLossConfig::new()
                        .with_weight(Some(class_weights(c)))
                        .with_label_smoothing(smoothing)
                        .with_reduction(reduction)
                        .init::<B>(device);
                    let name = format!("ce probabilities {reduction:?} smoothing {smoothing}");
                    agree(ctx, &name, x3.clone(), |x| {
                        ce.forward_probs(x, soft3.clone())
                    });
                    agree(ctx, &name, x2.clone(), |x| {
                        ce.forward_probs(x, soft2.clone())
                    });
                }
                for gamma in [0.0, 0.5, 2.0] {
                    let focal = FocalLossConfig::new(c)
                        .with_gamma(gamma)
                        .with_alpha(Some(class_weights(c)))
                        .with_ignore_index(-1)
                        .with_reduction(reduction)
                        .init::<B>(device);
                    let name = format!("focal {reduction:?} gamma {gamma}");
                    agree(ctx, &name, x3.clone(), |x| focal.forward(x, t2.clone()));
                    agree(ctx, &name, x2.clone(), |x| focal.forward(x, t1.clone()));
                }
            }
        }
        // `ignore_index` inside `[0, C)` (the background class), with unit and class weights:
        // that class's pixels leave the mean's divisor.
        if c >= 2 {
            let x3 = logits::<B, 3>(&[n, c, h * w], 300 + k as u64, 3.0, device);
            let t2 = labels::<B, 2>(&[n, h * w], c, 0, 0, 301 + k as u64, device);
            for weight in [None, Some(class_weights(c))] {
                let ce = CrossEntropyLossConfig::new()
                    .with_weight(weight)
                    .with_ignore_index(0)
                    .init::<B>(device);
                agree(ctx, "ce ignore_index 0", x3.clone(), |x| {
                    ce.forward(x, t2.clone())
                });
            }
            let focal = FocalLossConfig::new(c)
                .with_ignore_index(0)
                .init::<B>(device);
            agree(ctx, "focal ignore_index 0", x3.clone(), |x| {
                focal.forward(x, t2.clone())
            });
        }
    }
}

/// The Dice family: softmax, sigmoid and no activation; powers 1, 2 and 1.5; per sample and
/// batch; Jaccard; index targets with pixels outside `[0, C)`, one-hot and soft targets; the
/// score step's options (reductions, empty-class policies, weights, left-out classes, Tversky's
/// `gamma`); Tversky, generalized Dice and binary Dice (empty masks).
fn overlap_losses<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let device = &ctx.device;
    for (k, shape) in SHAPES.iter().enumerate() {
        let [n, c, h, w] = *shape;
        let seed = 200 + 10 * k as u64;
        let x = logits::<B, 4>(shape, seed, 3.0, device);
        let indices = labels::<B, 3>(&[n, h, w], c, -1, 1, seed + 1, device);
        let soft: Tensor<B, 4> = logits::<B, 4>(shape, seed + 2, 0.5, device).add_scalar(0.5);
        for activation in [Activation::Softmax, Activation::Sigmoid, Activation::None] {
            if activation == Activation::Softmax && c == 1 {
                continue; // rejected by the losses: softmax over one channel is constant
            }
            for (p, batch, jaccard) in [(1.0, false, false), (2.0, true, false), (1.5, false, true)]
            {
                let dice = DiceLossConfig::new()
                    .with_activation(activation)
                    .with_p(p)
                    .with_batch(batch)
                    .with_jaccard(jaccard)
                    .init::<B>(device);
                let name = format!("dice {activation:?} p {p} batch {batch} jaccard {jaccard}");
                agree(ctx, &format!("{name} indices"), x.clone(), |x| {
                    dice.forward_indices(x, indices.clone())
                });
                agree(ctx, &format!("{name} soft"), x.clone(), |x| {
                    dice.forward(x, soft.clone())
                });
                let soft_swapped = soft.clone().swap_dims(2, 3);
                agree(ctx, &format!("{name} soft swapped"), x.clone(), |x| {
                    dice.forward(x.swap_dims(2, 3), soft_swapped.clone())
                });
            }
            // The score step's options: each reduction and empty-class policy (the index
            // targets leave classes empty in the small shapes), class weights, channel 0 and an
            // ignored channel left out, no smoothing, pooled rows.
            let policies = [
                (Reduction::None, EmptyClass::Keep),
                (Reduction::Sum, EmptyClass::Zero),
                (Reduction::Mean, EmptyClass::Exclude),
                (Reduction::None, EmptyClass::Exclude),
            ];
            for (k, (reduction, empty)) in policies.into_iter().enumerate() {
                let mut config = DiceLossConfig::new()
                    .with_activation(activation)
                    .with_reduction(reduction)
                    .with_empty_class(empty)
                    .with_batch(k == 3)
                    .with_weight(Some(class_weights(c)))
                    .with_smooth(if k == 1 { 0.0 } else { 1.0 });
                if c >= 2 {
                    config = config.with_include_background(k % 2 == 1);
                }
                if c >= 3 {
                    config = config.with_ignore_index(Some(c - 1));
                }
                let dice = config.init::<B>(device);
                let name = format!(
                    "dice {activation:?} {reduction:?} {empty:?} batch {}",
                    k == 3
                );
                agree(ctx, &name, x.clone(), |x| {
                    dice.forward_indices(x, indices.clone())
                });
            }
            for (gamma, reduction, empty) in [
                (1.0, Reduction::Mean, EmptyClass::Keep),
                (0.75, Reduction::None, EmptyClass::Zero),
                (2.0, Reduction::Sum, EmptyClass::Exclude),
            ] {
                let tversky = TverskyLossConfig::new()
                    .with_activation(activation)
                    .with_alpha(0.3)
                    .with_beta(0.7)
                    .with_gamma(gamma)
                    .with_reduction(reduction)
                    .with_empty_class(empty)
                    .with_weight(Some(class_weights(c)))
                    .init::<B>(device);
                let name = format!("tversky {activation:?} gamma {gamma} {reduction:?} {empty:?}");
                agree(ctx, &name, x.clone(), |x| {
                    tversky.forward_indices(x, indices.clone())
                });
            }
            for weight_type in [
                GeneralizedDiceWeight::Square,
                GeneralizedDiceWeight::Uniform,
            ] {
                let gdl = GeneralizedDiceLossConfig::new()
                    .with_activation(activation)
                    .with_weight_type(weight_type)
                    .init::<B>(device);
                agree(
                    ctx,
                    &format!("generalized dice {weight_type:?} {activation:?}"),
                    x.clone(),
                    |x| gdl.forward(x, soft.clone()),
                );
            }
            // Empty classes (index targets) take the row's largest weight; every reduction,
            // pooled rows, channel 0 left out.
            for (weight_type, batch, reduction) in [
                (GeneralizedDiceWeight::Square, false, Reduction::None),
                (GeneralizedDiceWeight::Simple, true, Reduction::Sum),
                (GeneralizedDiceWeight::Uniform, false, Reduction::Mean),
            ] {
                let gdl = GeneralizedDiceLossConfig::new()
                    .with_activation(activation)
                    .with_weight_type(weight_type)
                    .with_batch(batch)
                    .with_reduction(reduction)
                    .with_include_background(c == 1 || !batch)
                    .init::<B>(device);
                let name = format!(
                    "generalized dice {weight_type:?} {activation:?} batch {batch} {reduction:?} indices"
                );
                agree(ctx, &name, x.clone(), |x| {
                    gdl.forward_indices(x, indices.clone())
                });
            }
        }
        let x1: Tensor<B, 4> = x.clone().slice([0..n, 0..1, 0..h, 0..w]);
        let y1: Tensor<B, 4> = soft.clone().slice([0..n, 0..1, 0..h, 0..w]).round();
        // The last sample's mask empty.
        let y1 = y1.slice_fill([n - 1..n, 0..1, 0..h, 0..w], 0.0);
        for (activation, batch, reduction, empty, jaccard) in [
            (
                Activation::None,
                false,
                Reduction::Mean,
                EmptyClass::Keep,
                false,
            ),
            (
                Activation::Sigmoid,
                false,
                Reduction::None,
                EmptyClass::Zero,
                true,
            ),
            (
                Activation::Sigmoid,
                true,
                Reduction::None,
                EmptyClass::Exclude,
                false,
            ),
            (
                Activation::Sigmoid,
                false,
                Reduction::Sum,
                EmptyClass::Exclude,
                false,
            ),
        ] {
            let binary = BinaryDiceLossConfig::new()
                .with_activation(activation)
                .with_batch(batch)
                .with_reduction(reduction)
                .with_empty_class(empty)
                .with_jaccard(jaccard)
                .init::<B>(device);
            let name = format!(
                "binary dice {activation:?} batch {batch} {reduction:?} {empty:?} jaccard {jaccard}"
            );
            agree(ctx, &name, x1.clone(), |x| binary.forward(x, y1.clone()));
        }
    }
}

/// A target out of range is reported by the fused path with the generic path's message.
fn out_of_range_target<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = logits::<B, 3>(&[1, 3, 70], 1, 1.0, &ctx.device);
    let mut raw = vec![0.0; 70];
    raw[66] = 7.0;
    let t = int_tensor::<B, 2>(&raw, &[1, 70], &ctx.device);
    let ce = CrossEntropyLossConfig::new().init::<B>(&ctx.device);
    for fused in [true, false] {
        burn_losses::fused::set_enabled(fused);
        assert_panics_with(&["CrossEntropyLoss", "target value 7", "3 classes"], || {
            ce.forward(x.clone(), t.clone())
        });
    }
    burn_losses::fused::set_enabled(true);
}

/// BCE with logits (per-channel `weight` and `pos_weight`, smoothing, `ignore_value`) and the
/// sigmoid focal loss (`alpha`, `gamma` 0, 0.5, 2), every reduction, ranks 1 to 4; logits of
/// scale 3 and 1e4; hard and soft targets.
fn sigmoid_losses<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let device = &ctx.device;
    for (k, shape) in SHAPES.iter().enumerate() {
        let [n, c, h, w] = *shape;
        let len = n * c * h * w;
        for (scale, seed) in [(3.0, 300 + k as u64), (1e4, 400 + k as u64)] {
            let x4 = logits::<B, 4>(shape, seed, scale, device);
            // Soft targets in [0, 1], some of them exactly 0, 1 or the ignored 2.
            let raw: Vec<f64> = pseudo_random(len, seed + 1, 1.0)
                .into_iter()
                .map(|u| match u {
                    u if u < -0.8 => 2.0,
                    u if u < -0.4 => 0.0,
                    u if u > 0.6 => 1.0,
                    u => u + 0.5,
                })
                .collect();
            let counted = raw.iter().filter(|&&t| t != 2.0).count() as f64;
            let t4 = float_tensor::<B, 4>(&raw, shape, device);
            let hard = t4.clone().clamp_max(1.0).round();
            let soft = t4.clone().clamp_max(1.0);
            let x1: Tensor<B, 1> = x4.clone().flatten(0, 3);
            let t1: Tensor<B, 1> = hard.clone().flatten(0, 3);
            let options = [
                (None, None, 0.0, None),
                (
                    Some(class_weights(c)),
                    Some(class_weights(c)),
                    0.1,
                    Some(2.0),
                ),
            ];
            for (weight, pos_weight, smoothing, ignore) in options {
                let config = BceWithLogitsLossConfig::new()
                    .with_weight(weight)
                    .with_pos_weight(pos_weight)
                    .with_label_smoothing(smoothing)
                    .with_ignore_value(ignore);
                let none = config
                    .clone()
                    .with_reduction(Reduction::None)
                    .init::<B>(device);
                let targets = if ignore.is_some() { &t4 } else { &hard };
                let name = format!("bce ignore {ignore:?}");
                agree(ctx, &format!("{name} None"), x4.clone(), |x| {
                    none.forward(x, targets.clone())
                });
                let swapped = targets.clone().swap_dims(2, 3);
                agree(ctx, &format!("{name} None swapped"), x4.clone(), |x| {
                    none.forward(x.swap_dims(2, 3), swapped.clone())
                });
                let count = if ignore.is_some() {
                    counted
                } else {
                    len as f64
                };
                let bce = |reduction, x| {
                    let loss = config.clone().with_reduction(reduction).init::<B>(device);
                    loss.forward(x, targets.clone())
                };
                agree_sum_and_mean(ctx, &name, x4.clone(), bce, count);
            }
            let bce = |reduction, x| {
                let loss = BceWithLogitsLossConfig::new().with_reduction(reduction);
                loss.init::<B>(device).forward(x, t1.clone())
            };
            agree(ctx, "bce rank 1 None", x1.clone(), |x| {
                bce(Reduction::None, x)
            });
            agree_sum_and_mean(ctx, "bce rank 1", x1.clone(), bce, len as f64);
            for (gamma, alpha) in [(0.0, None), (0.5, Some(0.25)), (2.0, Some(0.25))] {
                let config = BinaryFocalLossConfig::new()
                    .with_gamma(gamma)
                    .with_alpha(alpha);
                let none = config
                    .clone()
                    .with_reduction(Reduction::None)
                    .init::<B>(device);
                let name = format!("binary focal gamma {gamma}");
                agree(ctx, &format!("{name} None"), x4.clone(), |x| {
                    none.forward(x, soft.clone())
                });
                agree(ctx, &format!("{name} None rank 1"), x1.clone(), |x| {
                    none.forward(x, t1.clone())
                });
                let focal = |reduction, x| {
                    let loss = config.clone().with_reduction(reduction).init::<B>(device);
                    loss.forward(x, soft.clone())
                };
                agree_sum_and_mean(ctx, &name, x4.clone(), focal, len as f64);
            }
        }
    }
}

backend_tests!(
    softmax_losses,
    overlap_losses,
    sigmoid_losses,
    out_of_range_target
);
