//! `seg-demo`: train a small U-Net with the burn-losses losses, predict masks with it, or
//! score it on a folder of images and masks.
//!
//! ```text
//! seg-demo                       # = seg-demo train: synthetic shapes, CPU, ~8 minutes
//! seg-demo train --loss ce --class-weights 1,1,1,2,4
//! seg-demo train --data-dir my_data --classes 3 --image-size 128
//! seg-demo train --resume --epochs 20
//! seg-demo predict --input photo.png --output mask.png
//! seg-demo predict --input photos/ --output masks/ --format index
//! seg-demo eval --data-dir my_data/valid
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use segmentation_demo::backend::{InferenceBackend, TrainingBackend, backend_name};
use segmentation_demo::config::{DataSource, TrainConfig, defaults};
use segmentation_demo::data::{
    SYNTHETIC_CLASS_NAMES, infer_num_classes, is_presplit, list_images, progress_lines,
};
use segmentation_demo::inference::{InputSize, evaluate_folder, predict_image};
use segmentation_demo::loss::{LossKind, LossSpec};
use segmentation_demo::metrics::{ConfusionMatrix, format_per_class};
use segmentation_demo::model::ConvImpl;
use segmentation_demo::training::{self, Progress};
use segmentation_demo::visual::{self, MaskFormat};

// mimalloc keeps freed memory for reuse; with the system allocator every large tensor is a fresh
// `mmap` whose page faults cost about a third of the CPU training time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Train a small U-Net segmentation network with burn-losses, or predict with it.
///
/// Without a subcommand, `train` runs with its defaults (synthetic shapes).
#[derive(Parser, Debug)]
#[command(name = "seg-demo", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    train: TrainArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train (the default): synthetic shapes, or your folder with --data-dir.
    Train(TrainArgs),
    /// Predict masks (colour or class index PNG) for an image or a folder of images.
    Predict(PredictArgs),
    /// Score a trained model on a folder of images and masks: IoU and Dice per class, means.
    Eval(EvalArgs),
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Total number of epochs [default: 10; with --resume: the saved value].
    #[arg(long)]
    epochs: Option<usize>,
    /// Images per batch.
    #[arg(long, default_value_t = defaults::BATCH_SIZE)]
    batch_size: usize,
    /// Peak learning rate (Adam with cosine decay).
    #[arg(long = "lr", default_value_t = defaults::LEARNING_RATE)]
    learning_rate: f64,
    /// Side length images are resized to (a multiple of 8).
    #[arg(long, default_value_t = defaults::IMAGE_SIZE)]
    image_size: usize,
    /// Number of classes. Default: 5 for the synthetic set; with --data-dir, the largest mask
    /// value + 1 (255 aside), inferred from the masks and printed.
    #[arg(long)]
    classes: Option<usize>,
    /// Loss function.
    #[arg(long, value_enum, default_value_t = LossKind::DiceCe)]
    loss: LossKind,
    /// Per-class weights, comma-separated, one per class (e.g. 1,1,1,2,4).
    #[arg(long, value_delimiter = ',')]
    class_weights: Option<Vec<f32>>,
    /// Factor of the Dice term in dice-ce and focal-dice.
    #[arg(long, default_value_t = 1.0)]
    dice_weight: f32,
    /// Your data: a folder with images/ and same-named PNG masks in masks/ (class index per
    /// pixel, 255 = ignore). Without it, synthetic shapes are generated.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Fraction of --data-dir images held out for validation.
    #[arg(long, default_value_t = 0.2)]
    valid_fraction: f32,
    /// Synthetic training images.
    #[arg(long, default_value_t = defaults::NUM_TRAIN)]
    num_train: usize,
    /// Synthetic validation images.
    #[arg(long, default_value_t = defaults::NUM_VALID)]
    num_valid: usize,
    /// Channels of the first U-Net stage (stages use w, 3w, 6w, 12w).
    #[arg(long, default_value_t = defaults::BASE_WIDTH)]
    width: usize,
    /// How convolutions compute: patches + matmul (fast backward on CPU) or Burn's conv ops.
    #[arg(long, value_enum, default_value_t = Conv::Matmul)]
    conv: Conv,
    /// Where checkpoints, config.json, metrics.jsonl, model.mpk and panels/ go.
    #[arg(long, default_value = defaults::OUTPUT_DIR)]
    output_dir: PathBuf,
    /// Seed for data, shuffling and initialisation.
    #[arg(long, default_value_t = defaults::SEED)]
    seed: u64,
    /// Continue from the last checkpoint in --output-dir, with its saved config.json.
    #[arg(long)]
    resume: bool,
    /// Print plain progress lines even in a terminal (no full-screen UI).
    #[arg(long)]
    plain: bool,
}

#[derive(Args, Debug)]
struct PredictArgs {
    /// Folder of a training run (holds model.mpk and config.json).
    #[arg(long, default_value = defaults::OUTPUT_DIR)]
    model_dir: PathBuf,
    /// Image to segment (PNG or JPEG), or a folder of them.
    #[arg(long, visible_alias = "image")]
    input: PathBuf,
    /// Where to write the mask PNG (a folder when --input is one) [default: prediction.png, or
    /// predictions/ for a folder].
    #[arg(long)]
    output: Option<PathBuf>,
    /// Mask format: class indices (grayscale 0, 1, 2, …) or the colour palette.
    #[arg(long, value_enum, default_value_t = Format::Color)]
    format: Format,
    #[command(flatten)]
    size: SizeArgs,
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// Folder of a training run (holds model.mpk and config.json).
    #[arg(long, default_value = defaults::OUTPUT_DIR)]
    model_dir: PathBuf,
    /// Folder with images/ and masks/ (for a folder split into train/ and valid/: its valid/).
    #[arg(long)]
    data_dir: PathBuf,
    /// Also write the scores as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    #[command(flatten)]
    size: SizeArgs,
}

#[derive(Args, Debug)]
struct SizeArgs {
    /// Run the network at each image's own size (padded to a multiple of 8) instead of resizing
    /// it to the training size: for images larger than the training tiles at the same scale.
    #[arg(long)]
    native_size: bool,
}

impl SizeArgs {
    fn input_size(&self, config: &TrainConfig) -> InputSize {
        if self.native_size {
            InputSize::Native
        } else {
            InputSize::Training(config.image_size)
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Conv {
    /// Patch extraction + one matrix multiplication per convolution.
    Matmul,
    /// Burn's conv2d / conv_transpose2d.
    Native,
}

impl From<Conv> for ConvImpl {
    fn from(conv: Conv) -> Self {
        match conv {
            Conv::Matmul => ConvImpl::Matmul,
            Conv::Native => ConvImpl::Native,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// 8-bit grayscale PNG of class indices (the format of training masks).
    Index,
    /// RGB PNG in the demo's class palette.
    Color,
}

impl From<Format> for MaskFormat {
    fn from(format: Format) -> Self {
        match format {
            Format::Index => MaskFormat::Index,
            Format::Color => MaskFormat::Color,
        }
    }
}

impl TrainArgs {
    fn to_config(&self) -> Result<TrainConfig, String> {
        if self.resume {
            let mut config = TrainConfig::load(&self.output_dir)?;
            if let Some(epochs) = self.epochs {
                config.epochs = epochs;
            }
            config.output_dir = self.output_dir.clone();
            return Ok(config);
        }
        let classes = match (self.classes, &self.data_dir) {
            (Some(classes), _) => classes,
            (None, None) => SYNTHETIC_CLASS_NAMES.len(),
            (None, Some(dir)) => {
                let classes = infer_num_classes(dir).map_err(|e| e.to_string())?;
                println!(
                    "--classes not given: {classes} classes, from the largest value in {}",
                    dir.join("masks").display()
                );
                classes
            }
        };
        let mut loss = LossSpec::new(self.loss, classes, self.class_weights.clone());
        loss.dice_weight = self.dice_weight;
        Ok(TrainConfig {
            epochs: self.epochs.unwrap_or(defaults::EPOCHS),
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            image_size: self.image_size,
            base_width: self.width,
            conv: self.conv.into(),
            loss,
            data: match &self.data_dir {
                Some(path) => DataSource::Folder {
                    path: path.clone(),
                    valid_fraction: self.valid_fraction,
                },
                None => DataSource::Synthetic {
                    num_train: self.num_train,
                    num_valid: self.num_valid,
                },
            },
            output_dir: self.output_dir.clone(),
            seed: self.seed,
            num_panels: defaults::NUM_PANELS,
        })
    }
}

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
    print!("validation: ");
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
        &device,
        &progress,
    )
    .map_err(|e| e.to_string())?;
    println!("{} images of {}", result.images, dir.display());
    print_scores(&config.class_names(), &result.confusion);
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        None => run_train(&cli.train),
        Some(Command::Train(args)) => run_train(args),
        Some(Command::Predict(args)) => run_predict(args),
        Some(Command::Eval(args)) => run_eval(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
