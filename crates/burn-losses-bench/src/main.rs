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

/// What the command line asks for (see the module docs).
#[derive(Debug, PartialEq)]
enum Command {
    /// Every loss on `[N, C, H, W]` logits (`[16, 8, 256, 256]` by default).
    Losses { dims: [usize; 4], iterations: usize },
    /// The fused-kernel workloads' table, rows matching `filter`.
    Workloads { iterations: usize, filter: String },
    /// The fused path alone, for a profiler.
    Fused { iterations: usize, filter: String },
    /// Kernel launches per forward + backward pass (wgpu).
    Launches,
    /// The usage text.
    Help,
}

const USAGE: &str = "usage: loss-bench [N C H W [ITERATIONS]]
       loss-bench workloads [ITERATIONS [FILTER]]
       loss-bench fused [ITERATIONS [FILTER]]
       loss-bench launches

  (no arguments)   every loss on [16, 8, 256, 256] logits, 5 iterations
  N C H W          every loss on [N, C, H, W] logits
  workloads        the fused-kernel workloads, fused vs generic vs burn-nn (and PyTorch
                   when TORCH_PYTHON names a Python with torch); default 5 iterations
  fused            the fused path alone on each workload; default 1000 iterations
  launches         kernel launches per forward + backward pass (wgpu builds)
  FILTER           only the rows whose name contains it, e.g. \"[8, 4, 128, 128]\"";

/// A count argument: a positive integer.
fn count(name: &str, arg: &str) -> Result<usize, String> {
    match arg.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{name} must be a positive integer, got {arg:?}")),
    }
}

/// Parses the arguments after the program name.
fn parse(args: &[String]) -> Result<Command, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let iterations = |arg: Option<&&str>, default: usize| -> Result<usize, String> {
        arg.map_or(Ok(default), |a| count("ITERATIONS", a))
    };
    match args[..] {
        ["-h" | "--help" | "help", ..] => Ok(Command::Help),
        ["launches"] => Ok(Command::Launches),
        ["workloads", ref rest @ ..] if rest.len() <= 2 => Ok(Command::Workloads {
            iterations: iterations(rest.first(), 5)?,
            filter: rest.get(1).map_or_else(String::new, |f| f.to_string()),
        }),
        ["fused", ref rest @ ..] if rest.len() <= 2 => Ok(Command::Fused {
            iterations: iterations(rest.first(), 1000)?,
            filter: rest.get(1).map_or_else(String::new, |f| f.to_string()),
        }),
        [mode @ ("workloads" | "fused" | "launches"), ref rest @ ..] => {
            Err(format!("unexpected arguments after {mode}: {rest:?}"))
        }
        [] => Ok(Command::Losses {
            dims: [16, 8, 256, 256],
            iterations: 5,
        }),
        [n, c, h, w, ref rest @ ..] if rest.len() <= 1 => {
            let mut dims = [0; 4];
            for (dim, (name, arg)) in dims
                .iter_mut()
                .zip(["N", "C", "H", "W"].iter().zip([n, c, h, w]))
            {
                *dim = count(name, arg)?;
            }
            let iterations = iterations(rest.first(), 5)?;
            Ok(Command::Losses { dims, iterations })
        }
        _ => Err(format!("unexpected arguments {args:?}")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ([n, c, h, w], iterations) = match parse(&args) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            return;
        }
        Ok(Command::Launches) => {
            launches::run::<B>(BACKEND);
            return;
        }
        Ok(Command::Workloads { iterations, filter }) => {
            workloads::run::<B>(BACKEND, iterations, &filter);
            return;
        }
        Ok(Command::Fused { iterations, filter }) => {
            workloads::fused_only::<B>(iterations, &filter);
            return;
        }
        Ok(Command::Losses { dims, iterations }) => (dims, iterations),
        Err(error) => {
            eprintln!("loss-bench: {error}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Command, String> {
        parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_each_mode_with_its_defaults() {
        let losses = |dims, iterations| Ok(Command::Losses { dims, iterations });
        assert_eq!(parsed(&[]), losses([16, 8, 256, 256], 5));
        assert_eq!(parsed(&["4", "8", "64", "64"]), losses([4, 8, 64, 64], 5));
        assert_eq!(
            parsed(&["4", "8", "64", "64", "9"]),
            losses([4, 8, 64, 64], 9)
        );
        let filter = String::new();
        assert_eq!(
            parsed(&["workloads"]),
            Ok(Command::Workloads {
                iterations: 5,
                filter: filter.clone()
            })
        );
        assert_eq!(
            parsed(&["fused"]),
            Ok(Command::Fused {
                iterations: 1000,
                filter
            })
        );
        assert_eq!(
            parsed(&["fused", "7", "[8, 4, 128, 128]"]),
            Ok(Command::Fused {
                iterations: 7,
                filter: "[8, 4, 128, 128]".into()
            })
        );
        assert_eq!(parsed(&["launches"]), Ok(Command::Launches));
        assert_eq!(parsed(&["--help"]), Ok(Command::Help));
        assert_eq!(parsed(&["-h"]), Ok(Command::Help));
    }

    #[test]
    fn rejects_what_it_cannot_run_naming_the_argument() {
        let error = |args: &[&str]| parsed(args).expect_err("an error");
        assert!(error(&["4", "8", "x", "64"]).contains("H must be a positive integer, got \"x\""));
        assert!(error(&["4", "0", "64", "64"]).contains("C must be"));
        assert!(error(&["workloads", "-1"]).contains("ITERATIONS must be"));
        assert!(error(&["4", "8", "64"]).contains("unexpected arguments"));
        assert!(error(&["fused", "3", "ce", "extra"]).contains("unexpected arguments"));
        assert!(error(&["launches", "3"]).contains("unexpected arguments"));
    }
}
