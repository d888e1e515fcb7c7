//! Training throughput of the compiled-in backend (ndarray CPU by default): images per second for a full training step
//! (forward, loss, backward, Adam update) at a few image sizes and loss choices, with the
//! matmul convolutions and with Burn's own (`--conv matmul|native`).
//!
//! Run with `cargo bench -p segmentation-demo --bench throughput` (add `-- --quick` for the
//! first row only). Not a test: it only prints a table.

use std::time::Instant;

use burn::data::dataloader::batcher::Batcher;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use segmentation_demo::backend::{TrainingBackend, backend_name};
use segmentation_demo::data::{SegBatch, SegBatcher, SyntheticConfig};
use segmentation_demo::loss::{LossKind, LossSpec};
use segmentation_demo::model::{ConvImpl, UNetConfig};
use segmentation_demo::training::SegmentationModel;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type B = TrainingBackend;

fn images_per_second(
    image_size: usize,
    base_width: usize,
    batch_size: usize,
    loss: LossKind,
    conv: ConvImpl,
) -> f64 {
    let device = Default::default();
    let data = SyntheticConfig::new(batch_size, 1, image_size, 0).generate();
    let batch: SegBatch<B> = SegBatcher.batch(data.train, &device);
    let mut model = SegmentationModel {
        net: UNetConfig::new(5)
            .with_base_width(base_width)
            .with_conv(conv)
            .init::<B>(&device),
        loss: LossSpec::new(loss, 5, None),
    };
    let mut optim = AdamConfig::new().init::<B, SegmentationModel<B>>();
    let mut step = |model: SegmentationModel<B>| {
        let out = model.forward_step(batch.clone());
        let grads = GradientsParams::from_grads(out.loss.backward(), &model);
        optim.step(1e-3, model, grads)
    };
    for _ in 0..2 {
        model = step(model);
    }
    let steps = 6;
    let start = Instant::now();
    for _ in 0..steps {
        model = step(model);
    }
    (steps * batch_size) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    println!(
        "training throughput, {} backend, {} CPU threads",
        backend_name(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| image size | base width | batch | loss | conv | images/s |");
    println!("|---|---|---|---|---|---|");
    let runs = [
        (48, 8, 16, LossKind::Ce),
        (48, 8, 16, LossKind::FocalDice),
        (32, 8, 16, LossKind::Ce),
        (64, 8, 16, LossKind::Ce),
        (64, 16, 16, LossKind::Ce),
    ];
    // `-- --quick`: the first row only (for slow backends such as wgpu on a software GPU).
    let quick = std::env::args().any(|a| a == "--quick");
    let runs = if quick { &runs[..1] } else { &runs[..] };
    for &(size, width, batch, loss) in runs {
        for conv in [ConvImpl::Matmul, ConvImpl::Native] {
            let ips = images_per_second(size, width, batch, loss, conv);
            println!("| {size} | {width} | {batch} | {loss} | {conv:?} | {ips:.1} |");
        }
    }
}
