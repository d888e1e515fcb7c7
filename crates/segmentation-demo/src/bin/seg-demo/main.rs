//! `seg-demo`: train a small U-Net with the burn-losses losses, predict masks with it, or
//! score it on a folder of images and masks.
//!
//! ```text
//! seg-demo                       # = seg-demo train: synthetic shapes, CPU, 7–10 minutes
//! seg-demo train --loss ce --class-weights 1,1,1,2,4
//! seg-demo train --data-dir my_data --classes 3 --image-size 128
//! seg-demo train --resume --epochs 20
//! seg-demo predict --input photo.png --output mask.png
//! seg-demo predict --input photos/ --output masks/ --format index
//! seg-demo eval --data-dir my_data/valid
//! seg-demo prepare-nuclei --image-tiff img.tif --mask-tiff masks.tif --output data/nuclei
//! ```

use std::process::ExitCode;

use clap::Parser;
use segmentation_demo::backend::{InferenceBackend, TrainingBackend, backend_name};
use segmentation_demo::data::{is_presplit, list_images, progress_lines};
use segmentation_demo::inference::{ObjectCount, evaluate_folder, predict_image};
use segmentation_demo::metrics::{ConfusionMatrix, format_per_class};
use segmentation_demo::nuclei;
use segmentation_demo::training::{self, Progress};
use segmentation_demo::visual::{self, MaskFormat};

mod args;

use args::{Cli, Command, EvalArgs, PredictArgs, PrepareNucleiArgs, TrainArgs};

// mimalloc keeps freed memory for reuse; with the system allocator every large tensor is a fresh
// `mmap` whose page faults cost about a third of the CPU training time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn run_train(args: &TrainArgs) -> Result<(), String> {
    let config = args.to_config()?;
    config.validate()?;
    println!(
        "seg-demo: training on {} with loss `{}` for {} epochs; output in {}",
        backend_name(),
        config.loss.kind,
        config.epochs,
        config.output_dir.display()
    );
    let progress = if args.plain {
        Progress::Plain
    } else {
        Progress::Auto
    };
    let device = Default::default();
    let report = training::train::<TrainingBackend>(&config, args.resume, &device, progress)
        .map_err(|e| e.to_string())?;

    let confusion = &report.valid_confusion;
    println!();
    if let Some(epoch) = report.resumed_from {
        println!("resumed after epoch {epoch}");
    }
    println!(
        "finished in {:.1} s ({} training images, {} epochs)",
        report.seconds, report.num_train, config.epochs
    );
    println!("validation ({} images):", report.num_valid);
    print_scores(&config.class_names(), confusion);
    println!("IoU per class: {}", format_per_class(&confusion.iou()));
    let out = &config.output_dir;
    println!(
        "wrote {0}/model.mpk, {0}/metrics.jsonl, {0}/config.json and {0}/panels/panel-*.png \
         (image | ground truth | prediction)",
        out.display()
    );
    Ok(())
}

fn run_predict(args: &PredictArgs) -> Result<(), String> {
    let device = Default::default();
    let (model, config) = training::load_model::<InferenceBackend>(&args.model_dir, &device)
        .map_err(|e| e.to_string())?;
    let input = args.size.input_size(&config);
    let format = MaskFormat::from(args.format);
    if args.input.is_dir() {
        let output = args.output.clone().unwrap_or_else(|| "predictions".into());
        let images = list_images(&args.input).map_err(|e| e.to_string())?;
        let progress = progress_lines(format!("predicting {}", args.input.display()));
        for (k, image) in images.iter().enumerate() {
            let map = predict_image(&model, image, input, &device).map_err(|e| e.to_string())?;
            let name = image.file_stem().unwrap_or_default();
            visual::save_mask(&map, &output.join(name).with_extension("png"), format)?;
            progress(k + 1, images.len());
        }
        println!("wrote {} masks to {}", images.len(), output.display());
        return Ok(());
    }
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| "prediction.png".into());
    let map = predict_image(&model, &args.input, input, &device).map_err(|e| e.to_string())?;
    visual::save_mask(&map, &output, format)?;
    let mut counts = vec![0usize; config.loss.num_classes];
    for &c in &map.classes {
        counts[c as usize] += 1;
    }
    println!(
        "wrote {} ({}x{}; pixels per class: {})",
        output.display(),
        map.width,
        map.height,
        config
            .class_names()
            .iter()
            .zip(&counts)
            .map(|(n, c)| format!("{n} {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn run_eval(args: &EvalArgs) -> Result<(), String> {
    let device = Default::default();
    let (model, config) = training::load_model::<InferenceBackend>(&args.model_dir, &device)
        .map_err(|e| e.to_string())?;
    let dir = if is_presplit(&args.data_dir) {
        args.data_dir.join("valid")
    } else {
        args.data_dir.clone()
    };
    let progress = progress_lines(format!("evaluating {}", dir.display()));
    let result = evaluate_folder(
        &model,
        &dir,
        args.size.input_size(&config),
        args.count_class,
        &device,
        &progress,
    )
    .map_err(|e| e.to_string())?;
    println!("{} images of {}", result.images, dir.display());
    print_scores(&config.class_names(), &result.confusion);
    if let Some(class) = args.count_class {
        println!("objects of class {class} (8-connected regions): predicted / in the mask");
        for count in &result.objects {
            let name = count
                .image
                .file_name()
                .unwrap_or_default()
                .to_string_lossy();
            println!("  {name}: {} / {}", count.predicted, count.truth);
        }
        let total = |f: fn(&ObjectCount) -> usize| result.objects.iter().map(f).sum::<usize>();
        println!(
            "  total: {} / {}",
            total(|c| c.predicted),
            total(|c| c.truth)
        );
    }
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "data_dir": dir,
            "images": result.images,
            "classes": config.class_names(),
            "iou": result.confusion.iou(),
            "dice": result.confusion.dice(),
            "mean_iou": result.confusion.mean_iou(),
            "mean_dice": result.confusion.mean_dice(),
            "pixel_accuracy": result.confusion.pixel_accuracy(),
            "confusion": result.confusion,
            "objects": result.objects.iter().map(|c| serde_json::json!({
                "image": c.image, "predicted": c.predicted, "truth": c.truth,
            })).collect::<Vec<_>>(),
        });
        std::fs::write(
            path,
            serde_json::to_string_pretty(&json).expect("scores serialise"),
        )
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Per-class IoU and Dice, then the means and the pixel accuracy.
fn print_scores(names: &[String], confusion: &ConfusionMatrix) {
    println!("{:<12} {:>6} {:>6}", "class", "IoU", "Dice");
    for ((name, iou), dice) in names.iter().zip(confusion.iou()).zip(confusion.dice()) {
        let fmt = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.3}"));
        println!("{name:<12} {:>6} {:>6}", fmt(iou), fmt(dice));
    }
    println!(
        "mean IoU {:.4}, mean Dice {:.4}, pixel accuracy {:.4}",
        confusion.mean_iou(),
        confusion.mean_dice(),
        confusion.pixel_accuracy()
    );
}

fn run_prepare_nuclei(args: &PrepareNucleiArgs) -> Result<(), String> {
    let summary = nuclei::prepare(&args.to_options()).map_err(|e| e.to_string())?;
    println!("{summary}");
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        None => run_train(&cli.train),
        Some(Command::Train(args)) => run_train(args),
        Some(Command::Predict(args)) => run_predict(args),
        Some(Command::Eval(args)) => run_eval(args),
        Some(Command::PrepareNuclei(args)) => run_prepare_nuclei(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
