//! `loss-bench workloads`: the fused kernels against the generic path, burn-nn's
//! `CrossEntropyLoss` and PyTorch on the workloads of the fused-kernel issue, with the peak
//! memory of a forward + backward pass.
//!
//! - **fused / generic**: the same loss with `burn_losses::fused` on and off.
//! - **burn-nn**: `burn::nn::loss::CrossEntropyLoss` on class-last logits, the permute to
//!   class-last included (what a user of it has to do with `[N, C, H, W]` logits).
//! - **PyTorch**: `bench/torch_reference.py` run by `$TORCH_PYTHON` (default `python3`) in the
//!   same run, when that Python has torch and MONAI; `–` otherwise.
//! - **bound**: on the CPU backends, the memory-bandwidth bound of the workload: reading the
//!   logits once and writing a new gradient of the same size once (a parallel map collected
//!   into a new `Vec`, on the same rayon threads as the kernels), timed in the same process
//!   right after the fused column, so under the same allocator state. With glibc's defaults a
//!   32 MiB buffer is a fresh `mmap` each run, and the bound includes its page faults, as the
//!   fused column does; with `MALLOC_MMAP_THRESHOLD_` raised both reuse pages (see
//!   docs/performance.md). `–` on the GPU backends.
//! - **peak / logits**: the most resident memory the fused forward + backward pass adds
//!   (Linux's `VmHWM` after resetting it), over the logits' size. It is measured in a child
//!   process whose glibc malloc returns every block over 64 KiB to the system at once, so that
//!   resident memory follows live allocations; the timings run with the allocator's defaults,
//!   as PyTorch's do.
//! - **Order**: every workload's fused column is timed before any generic or burn-nn column.
//!   Those free hundreds of MiB of temporaries, which moves glibc's dynamic mmap and trim
//!   thresholds; timed right after them, the small workloads' output buffers came back as
//!   fresh pages on every run (cross-entropy `[8, 4, 128, 128]`: 0.6–0.7 ms on its own,
//!   1.2–1.8 ms right after the generic `[16, 8, 256, 256]` one, 0.8 ms there with
//!   `MALLOC_TRIM_THRESHOLD_` raised), so the fused number depended on the row above it.

use std::collections::HashMap;
use std::process::Command;

use super::{forward_backward, median_ms, time};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::backend::AutodiffBackend;
use burn_losses::{
    Activation, BceWithLogitsLossConfig, BinaryDiceLossConfig, BinaryFocalLossConfig,
    CrossEntropyLossConfig, DiceLossConfig, FocalLossConfig, GeneralizedDiceLossConfig,
};

/// glibc's malloc setting that makes `VmHWM` track live allocations (see the module docs).
const MMAP_THRESHOLD: (&str, &str) = ("MALLOC_MMAP_THRESHOLD_", "65536");
/// Set in the child process that measures memory.
const MEMORY_CHILD: &str = "LOSS_BENCH_MEMORY_CHILD";

/// One workload: its name (as `bench/torch_reference.py` prints it), and a step per column.
pub(crate) struct Workload<'a> {
    pub name: String,
    pub logits_bytes: usize,
    pub loss: Box<dyn Fn() + 'a>,
    pub burn_nn: Option<Box<dyn Fn() + 'a>>,
}

/// Runs the workloads whose name contains `filter` (all for `""`) and prints the table (in the
/// memory child: each workload's peak).
pub fn run<B: AutodiffBackend>(backend: &str, iterations: usize, filter: &str) {
    let device = Default::default();
    B::seed(&device, 0);
    let workloads: Vec<_> = (workloads::<B>(&device).into_iter())
        .filter(|w| w.name.contains(filter))
        .collect();
    if std::env::var_os(MEMORY_CHILD).is_some() {
        for workload in &workloads {
            (workload.loss)(); // warm-up: first-use allocations are not the loss's
            if let Some(peak) = peak_bytes(&*workload.loss) {
                let ratio = peak as f64 / workload.logits_bytes as f64;
                println!("{}\t{ratio}", workload.name);
            }
        }
        return;
    }
    let peaks = memory_child();
    let torch = torch_reference(iterations);
    let ms = |step: &dyn Fn(), fused: bool| {
        burn_losses::fused::set_enabled(fused);
        let median = median_ms(&time::<B>(&device, iterations, step));
        burn_losses::fused::set_enabled(true);
        median
    };
    // Every fused column first: the generic path frees hundreds of MiB of temporaries, which
    // moves glibc's dynamic mmap and trim thresholds, so that right after it a small
    // workload's output buffer came back as fresh pages each run (see the module docs).
    let fused: Vec<f64> = workloads.iter().map(|w| ms(&w.loss, true)).collect();
    let bounds: Vec<Option<f64>> = (workloads.iter())
        .map(|w| bound_ms::<B>(&device, w.logits_bytes, iterations))
        .collect();
    println!(
        "forward + backward, median of {iterations} runs, backend {backend}, {} threads",
        threads()
    );
    println!(
        "| workload | fused ms | bound ms | fused / bound | generic ms | burn-nn ms | PyTorch ms | fused / PyTorch | peak / logits |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for ((workload, fused), bound) in workloads.iter().zip(fused).zip(bounds) {
        let generic = ms(&workload.loss, false);
        let burn_nn = workload.burn_nn.as_ref().map(|step| ms(step, true));
        let reference = torch.get(&workload.name).copied();
        let cell = |v: Option<f64>, digits: usize| {
            v.map_or("–".to_string(), |v| format!("{v:.digits$}"))
        };
        println!(
            "| {} | {fused:.1} | {} | {} | {generic:.1} | {} | {} | {} | {} |",
            workload.name,
            cell(bound, 1),
            cell(bound.map(|b| fused / b), 1),
            cell(burn_nn, 1),
            cell(reference, 1),
            cell(reference.map(|r| fused / r), 2),
            cell(peaks.get(&workload.name).copied(), 2),
        );
    }
}

/// The median time of reading `bytes` of logits once and writing a new gradient of the same
/// size once (see the module docs), on the CPU backends.
#[cfg(all(any(feature = "ndarray", feature = "flex"), not(feature = "wgpu")))]
fn bound_ms<B: AutodiffBackend>(
    device: &B::Device,
    bytes: usize,
    iterations: usize,
) -> Option<f64> {
    use rayon::prelude::*;
    let logits: Vec<f32> = (0..bytes / 4).map(|i| (i % 251) as f32).collect();
    let step = || {
        let gradient: Vec<f32> = logits.par_iter().map(|&x| -x).collect();
        std::hint::black_box(gradient);
    };
    Some(median_ms(&time::<B>(device, iterations, step)))
}

/// No host bound for a GPU backend (`wgpu` is the backend whenever its feature is on, even
/// with a CPU feature left on by default, as in `main.rs`).
#[cfg(not(all(any(feature = "ndarray", feature = "flex"), not(feature = "wgpu"))))]
fn bound_ms<B: AutodiffBackend>(_: &B::Device, _: usize, _: usize) -> Option<f64> {
    None
}

/// Times only the fused column of the workloads whose name contains `filter`, and prints each
/// median: a loop with nothing else in it, for `perf record` and A/B runs of one kernel.
pub fn fused_only<B: AutodiffBackend>(iterations: usize, filter: &str) {
    let device = Default::default();
    B::seed(&device, 0);
    for workload in workloads::<B>(&device) {
        if workload.name.contains(filter) {
            let median = median_ms(&time::<B>(&device, iterations, &workload.loss));
            println!("{}\t{median:.3} ms", workload.name);
        }
    }
}

pub(crate) fn workloads<B: AutodiffBackend>(device: &B::Device) -> Vec<Workload<'static>> {
    let big = [16, 8, 256, 256];
    let ce = CrossEntropyLossConfig::new().init::<B>(device);
    let focal = FocalLossConfig::new(8).init::<B>(device);
    let dice = DiceLossConfig::new().init::<B>(device);
    let binary_dice = BinaryDiceLossConfig::new()
        .with_activation(Activation::Sigmoid)
        .init::<B>(device);
    let bce = BceWithLogitsLossConfig::new().init::<B>(device);
    let binary_focal = BinaryFocalLossConfig::new().init::<B>(device);
    let generalized_dice = GeneralizedDiceLossConfig::new().init::<B>(device);
    let nn_ce = burn::nn::loss::CrossEntropyLossConfig::new().init::<B>(device);
    let mut out = Vec::new();
    let image = |shape: [usize; 4], name: &str, kind: u8| {
        let [n, c, h, w] = shape;
        let logits = Tensor::<B, 4>::random(shape, Distribution::Normal(0.0, 2.0), device);
        let labels = Tensor::<B, 3>::random(
            [n, h, w],
            Distribution::Uniform(0.0, c.max(2) as f64),
            device,
        )
        .int()
        .clamp(0, c.max(2) as i64 - 1);
        let (ce, focal, dice, binary_dice, nn_ce) = (
            ce.clone(),
            focal.clone(),
            dice.clone(),
            binary_dice.clone(),
            nn_ce.clone(),
        );
        let (bce, binary_focal) = (bce.clone(), binary_focal.clone());
        let generalized_dice = generalized_dice.clone();
        let logits_nn = logits.clone();
        let labels_nn = labels.clone();
        let loss: Box<dyn Fn()> = match kind {
            0 => Box::new(move || forward_backward(&logits, |x| ce.forward(x, labels.clone()))),
            1 => Box::new(move || forward_backward(&logits, |x| focal.forward(x, labels.clone()))),
            2 => Box::new(move || {
                forward_backward(&logits, |x| dice.forward_indices(x, labels.clone()))
            }),
            3 => {
                let mask = labels.clone().float().reshape([n, 1, h, w]);
                Box::new(move || {
                    forward_backward(&logits, |x| binary_dice.forward(x, mask.clone()))
                })
            }
            4 => {
                let masks = Tensor::<B, 4>::random(shape, Distribution::Bernoulli(0.5), device);
                Box::new(move || forward_backward(&logits, |x| bce.forward(x, masks.clone())))
            }
            5 => {
                let mask = labels.clone().float().reshape([n, 1, h, w]);
                Box::new(move || {
                    forward_backward(&logits, |x| binary_focal.forward(x, mask.clone()))
                })
            }
            _ => Box::new(move || {
                forward_backward(&logits, |x| {
                    generalized_dice.forward_indices(x, labels.clone())
                })
            }),
        };
        let burn_nn: Option<Box<dyn Fn()>> = (kind == 0).then(|| -> Box<dyn Fn()> {
            Box::new(move || {
                forward_backward(&logits_nn, |x| {
                    let x: Tensor<B, 2> = x.permute([0, 2, 3, 1]).reshape([n * h * w, c]);
                    nn_ce.forward(x, labels_nn.clone().reshape([n * h * w]))
                })
            })
        });
        Workload {
            name: format!("{name} [{n}, {c}, {h}, {w}]"),
            logits_bytes: n * c * h * w * 4,
            loss,
            burn_nn,
        }
    };
    out.push(image(big, "cross-entropy", 0));
    out.push(image(big, "focal", 1));
    out.push(image(big, "dice, index targets", 2));
    out.push(image([16, 1, 256, 256], "binary dice", 3));
    out.push(image([8, 4, 128, 128], "cross-entropy", 0));
    out.push(image(big, "bce with logits", 4));
    out.push(image([16, 1, 256, 256], "binary focal", 5));
    out.push(image(big, "generalized dice, index targets", 6));
    let (n, c) = (4096, 1000);
    let logits = Tensor::<B, 2>::random([n, c], Distribution::Normal(0.0, 2.0), device);
    let labels = Tensor::<B, 1>::random([n], Distribution::Uniform(0.0, c as f64), device)
        .int()
        .clamp(0, c as i64 - 1);
    let (logits_nn, labels_nn) = (logits.clone(), labels.clone());
    out.push(Workload {
        name: format!("cross-entropy [{n}, {c}]"),
        logits_bytes: n * c * 4,
        loss: Box::new(move || forward_backward(&logits, |x| ce.forward(x, labels.clone()))),
        burn_nn: Some(Box::new(move || {
            forward_backward(&logits_nn, |x| nn_ce.forward(x, labels_nn.clone()))
        })),
    });
    out
}

/// The resident memory one run of `step` adds at its peak (Linux only).
fn peak_bytes(step: &dyn Fn()) -> Option<u64> {
    let status = |key: &str| -> Option<u64> {
        let text = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = text.lines().find(|l| l.starts_with(key))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    };
    std::fs::write("/proc/self/clear_refs", "5").ok()?; // resets VmHWM to VmRSS
    let before = status("VmRSS:")?;
    step();
    Some(status("VmHWM:")?.saturating_sub(before))
}

/// Each workload's peak over logits, from a child process set up for it (see the module docs).
fn memory_child() -> HashMap<String, f64> {
    let output = Command::new(std::env::current_exe().expect("the bench's path"))
        .args(std::env::args().skip(1))
        .env(MEMORY_CHILD, "1")
        .env(MMAP_THRESHOLD.0, MMAP_THRESHOLD.1)
        .output();
    match output {
        Ok(out) if out.status.success() => parse_lines(&out.stdout),
        _ => HashMap::new(),
    }
}

/// `name<TAB>number` lines.
fn parse_lines(stdout: &[u8]) -> HashMap<String, f64> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once('\t')?;
            Some((name.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

fn threads() -> String {
    std::thread::available_parallelism().map_or("?".into(), |n| n.to_string())
}

/// PyTorch's medians by workload name, from `bench/torch_reference.py`; empty without torch.
fn torch_reference(iterations: usize) -> HashMap<String, f64> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bench/torch_reference.py"
    );
    let python = std::env::var("TORCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let output = Command::new(&python)
        .args([script, &iterations.to_string(), &threads.to_string()])
        .output();
    match output {
        Ok(out) if out.status.success() => parse_lines(&out.stdout),
        _ => {
            eprintln!(
                "no PyTorch column: `{python} {script}` did not run (set TORCH_PYTHON to a Python with torch and MONAI)"
            );
            HashMap::new()
        }
    }
}
