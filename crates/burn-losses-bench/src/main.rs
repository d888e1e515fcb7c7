//! Forward + backward wall time of each burn-losses loss on `[16, 8, 256, 256]` logits.
//!
//! ```sh
//! cargo run --release -p burn-losses-bench                                   # ndarray, CPU
//! cargo run --release -p burn-losses-bench --no-default-features --features flex   # flex, CPU
//! cargo run --release -p burn-losses-bench --no-default-features --features wgpu   # wgpu, GPU
//! cargo run --release -p burn-losses-bench --no-default-features --features fusion # + fusion
//! cargo run --release -p burn-losses-bench -- 4 8 64 64 5                    # N C H W iterations
//! cargo run --release -p burn-losses-bench -- workloads 5                     # see workloads.rs
//! cargo run --release -p burn-losses-bench -- workloads 31 "binary dice"       # matching rows only
//! cargo run --release -p burn-losses-bench -- fused 3000 "[8, 4, 128, 128]"   # for a profiler
//! cargo run --release -p burn-losses-bench --no-default-features --features wgpu -- launches
//! ```
//!
//! Each loss runs once to warm up, then `iterations` times; the table gives the median and
//! the fastest run, each timed from building the inputs' graph to a synchronised backward pass.

mod launches;
mod workloads;

use std::time::{Duration, Instant};

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::AutodiffBackend;
use burn_losses::{
    Activation, BceWithLogitsLossConfig, BinaryDiceLossConfig, BinaryFocalLossConfig,
    CrossEntropyLossConfig, DiceCeLossConfig, DiceFocalLossConfig, DiceLossConfig, EmptyClass,
    FocalLossConfig, GeneralizedDiceLossConfig, LovaszHingeLossConfig, LovaszSoftmaxLossConfig,
    TverskyLossConfig, one_hot,
};

#[cfg(feature = "wgpu")]
type B = burn::backend::Autodiff<burn::backend::Wgpu>;
#[cfg(all(feature = "flex", not(feature = "wgpu")))]
type B = burn::backend::Autodiff<burn::backend::Flex>;
#[cfg(all(feature = "ndarray", not(any(feature = "wgpu", feature = "flex"))))]
type B = burn::backend::Autodiff<burn::backend::NdArray<f32>>;

const BACKEND: &str = if cfg!(feature = "fusion") {
    "wgpu + fusion"
} else if cfg!(feature = "wgpu") {
    "wgpu"
} else if cfg!(feature = "flex") {
    "flex"
} else {
    "ndarray"
};

/// Inputs shared by every loss: logits, class targets (a few ignored), their one-hot form and a
/// binary mask.
struct Inputs<B: Backend> {
    logits: Tensor<B, 4>,
    labels: Tensor<B, 3, Int>,
    one_hot: Tensor<B, 4>,
    mask: Tensor<B, 4>,
}

/// Times `step` (forward + backward + sync), returning the sorted durations.
fn time<B: AutodiffBackend>(
    device: &B::Device,
    iterations: usize,
    step: impl Fn(),
) -> Vec<Duration> {
    step();
    B::sync(device).expect("device sync");
    let mut runs: Vec<Duration> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            step();
            B::sync(device).expect("device sync");
            start.elapsed()
        })
        .collect();
    runs.sort();
    runs
}

/// The median of `time`'s sorted durations, in milliseconds.
fn median_ms(sorted: &[Duration]) -> f64 {
    sorted[sorted.len() / 2].as_secs_f64() * 1e3
}

/// Runs `loss` on fresh leaf logits and back-propagates to them.
fn forward_backward<B: AutodiffBackend, const D: usize>(
    logits: &Tensor<B, D>,
    loss: impl Fn(Tensor<B, D>) -> Tensor<B, 1>,
) {
    let x = logits.clone().detach().require_grad();
    let grads = loss(x.clone()).backward();
    let grad = x.grad(&grads).expect("gradient");
    drop(grad);
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("launches") {
        launches::run::<B>(BACKEND);
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("workloads") {
        let iterations = std::env::args()
            .nth(2)
            .map_or(5, |a| a.parse().expect("iterations"));
        let filter = std::env::args().nth(3).unwrap_or_default();
        workloads::run::<B>(BACKEND, iterations, &filter);
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("fused") {
        let iterations = std::env::args()
            .nth(2)
            .map_or(1000, |a| a.parse().expect("iterations"));
        let filter = std::env::args().nth(3).unwrap_or_default();
        workloads::fused_only::<B>(iterations, &filter);
        return;
    }
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("arguments: N C H W [iterations]"))
        .collect();
    let [n, c, h, w] = match args.get(..4) {
        Some(&[n, c, h, w]) => [n, c, h, w],
        _ => [16, 8, 256, 256],
    };
    let iterations = args.get(4).copied().unwrap_or(5);
    let device = Default::default();
    B::seed(&device, 0);

    let labels =
        Tensor::<B, 4>::random([n, 1, h, w], Distribution::Uniform(0.0, c as f64), &device)
            .int()
            .reshape([n, h, w]);
    let inputs = Inputs {
        logits: Tensor::random([n, c, h, w], Distribution::Normal(0.0, 2.0), &device),
        one_hot: one_hot(labels.clone(), c),
        mask: labels.clone().equal_elem(1).float().reshape([n, 1, h, w]),
        labels: labels.slice_fill([0..1, 0..h / 8], 255),
    };
    let mask_logits: Tensor<B, 4> =
        Tensor::random([n, 1, h, w], Distribution::Normal(0.0, 2.0), &device);

    let weight = Some((1..=c).map(|i| i as f32 / c as f32).collect::<Vec<_>>());
    let ce = CrossEntropyLossConfig::new()
        .with_ignore_index(255)
        .with_check_targets(false)
        .init::<B>(&device);
    let ce_full = CrossEntropyLossConfig::new()
        .with_weight(weight.clone())
        .with_ignore_index(255)
        .with_label_smoothing(0.1)
        .with_check_targets(false)
        .init::<B>(&device);
    let ce_checked = CrossEntropyLossConfig::new()
        .with_ignore_index(255)
        .init::<B>(&device);
    let focal = FocalLossConfig::new(c)
        .with_alpha(weight.clone())
        .with_ignore_index(255)
        .with_check_targets(false)
        .init::<B>(&device);
    let dice = DiceLossConfig::new()
        .with_weight(weight.clone())
        .init::<B>(&device);
    // smp's DiceLoss("multiclass"): batch Dice, p = 1, empty classes zeroed.
    let dice_smp = DiceLossConfig::new()
        .with_batch(true)
        .with_p(1.0)
        .with_empty_class(EmptyClass::Zero)
        .init::<B>(&device);
    let jaccard_sigmoid = DiceLossConfig::new()
        .with_activation(Activation::Sigmoid)
        .with_jaccard(true)
        .with_include_background(false)
        .with_empty_class(EmptyClass::Exclude)
        .init::<B>(&device);
    let tversky = TverskyLossConfig::new()
        .with_alpha(0.3)
        .with_beta(0.7)
        .with_gamma(0.75)
        .with_weight(weight)
        .init::<B>(&device);
    let generalized_dice = GeneralizedDiceLossConfig::new().init::<B>(&device);
    let binary_focal = BinaryFocalLossConfig::new().init::<B>(&device);
    let binary_dice = BinaryDiceLossConfig::new().init::<B>(&device);
    let dice_ce = DiceCeLossConfig::new()
        .with_cross_entropy(
            CrossEntropyLossConfig::new()
                .with_ignore_index(255)
                .with_check_targets(false),
        )
        .init::<B>(&device);
    let dice_focal = DiceFocalLossConfig::new(
        FocalLossConfig::new(c)
            .with_ignore_index(255)
            .with_check_targets(false),
    )
    .init::<B>(&device);
    let lovasz = LovaszSoftmaxLossConfig::new()
        .with_ignore_index(255)
        .with_check_targets(false)
        .init::<B>(&device);
    let bce = BceWithLogitsLossConfig::new()
        .with_pos_weight(Some((1..=c).map(|i| i as f32).collect()))
        .init::<B>(&device);
    let bce_mask = BceWithLogitsLossConfig::new().init::<B>(&device);
    let lovasz_hinge = LovaszHingeLossConfig::new().init::<B>(&device);
    let binary_dice_logits = BinaryDiceLossConfig::new()
        .with_activation(Activation::Sigmoid)
        .with_batch(true)
        .init::<B>(&device);

    let Inputs {
        logits,
        labels,
        one_hot,
        mask,
    } = inputs;
    type Case<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let cases: Vec<Case> = vec![
        (
            "cross-entropy",
            Box::new(|| forward_backward(&logits, |x| ce.forward(x, labels.clone()))),
        ),
        (
            "cross-entropy + weight + smoothing",
            Box::new(|| forward_backward(&logits, |x| ce_full.forward(x, labels.clone()))),
        ),
        (
            "cross-entropy, check_targets on",
            Box::new(|| forward_backward(&logits, |x| ce_checked.forward(x, labels.clone()))),
        ),
        (
            "focal (alpha, gamma 2)",
            Box::new(|| forward_backward(&logits, |x| focal.forward(x, labels.clone()))),
        ),
        (
            "dice (one-hot targets)",
            Box::new(|| forward_backward(&logits, |x| dice.forward(x, one_hot.clone()))),
        ),
        (
            "dice (index targets, 255 left out)",
            Box::new(|| forward_backward(&logits, |x| dice.forward_indices(x, labels.clone()))),
        ),
        (
            "dice, smp multiclass (batch, p 1, Zero)",
            Box::new(|| forward_backward(&logits, |x| dice_smp.forward_indices(x, labels.clone()))),
        ),
        (
            "jaccard, sigmoid, no background, Exclude",
            Box::new(|| forward_backward(&logits, |x| jaccard_sigmoid.forward(x, one_hot.clone()))),
        ),
        (
            "focal tversky (0.3, 0.7, gamma 0.75, weight)",
            Box::new(|| forward_backward(&logits, |x| tversky.forward_indices(x, labels.clone()))),
        ),
        (
            "generalized dice (square)",
            Box::new(|| {
                forward_backward(&logits, |x| {
                    generalized_dice.forward_indices(x, labels.clone())
                })
            }),
        ),
        (
            "cross-entropy, one-hot probability targets",
            Box::new(|| forward_backward(&logits, |x| ce.forward_probs(x, one_hot.clone()))),
        ),
        (
            "dice + cross-entropy (indices, 255 ignored)",
            Box::new(|| forward_backward(&logits, |x| dice_ce.forward_indices(x, labels.clone()))),
        ),
        (
            "dice + focal (indices, 255 ignored)",
            Box::new(|| {
                forward_backward(&logits, |x| dice_focal.forward_indices(x, labels.clone()))
            }),
        ),
        (
            "lovasz softmax (present classes, 255 ignored)",
            Box::new(|| forward_backward(&logits, |x| lovasz.forward(x, labels.clone()))),
        ),
        (
            "bce with logits, multi-label one-hot (pos_weight)",
            Box::new(|| forward_backward(&logits, |x| bce.forward(x, one_hot.clone()))),
        ),
        (
            "bce with logits [N, 1, H, W]",
            Box::new(|| forward_backward(&mask_logits, |x| bce_mask.forward(x, mask.clone()))),
        ),
        (
            "lovasz hinge [N, 1, H, W]",
            Box::new(|| forward_backward(&mask_logits, |x| lovasz_hinge.forward(x, mask.clone()))),
        ),
        (
            "binary focal [N, 1, H, W]",
            Box::new(|| forward_backward(&mask_logits, |x| binary_focal.forward(x, mask.clone()))),
        ),
        (
            "binary dice [N, 1, H, W] (on sigmoid)",
            Box::new(|| {
                forward_backward(&mask_logits, |x| {
                    binary_dice.forward(sigmoid(x), mask.clone())
                })
            }),
        ),
        (
            "binary dice [N, 1, H, W] (sigmoid inside, batch)",
            Box::new(|| {
                forward_backward(&mask_logits, |x| {
                    binary_dice_logits.forward(x, mask.clone())
                })
            }),
        ),
    ];

    println!(
        "burn-losses forward+backward, backend {BACKEND}, logits [{n}, {c}, {h}, {w}], {iterations} runs"
    );
    println!("| loss | median ms | min ms |");
    println!("|---|---:|---:|");
    for (name, step) in &cases {
        let runs = time::<B>(&device, iterations, step);
        println!(
            "| {name} | {:.1} | {:.1} |",
            median_ms(&runs),
            runs[0].as_secs_f64() * 1e3
        );
    }
}
