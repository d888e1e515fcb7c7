//! The command line: subcommands, their flags, and the run configuration they describe.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use segmentation_demo::config::{DataSource, TrainConfig, defaults};
use segmentation_demo::data::{SYNTHETIC_CLASS_NAMES, infer_num_classes};
use segmentation_demo::inference::InputSize;
use segmentation_demo::loss::{LossKind, LossSpec};
use segmentation_demo::model::ConvImpl;
use segmentation_demo::nuclei;
use segmentation_demo::visual::MaskFormat;

/// Train a small U-Net segmentation network with burn-losses, or predict with it.
///
/// Without a subcommand, `train` runs with its defaults (synthetic shapes).
#[derive(Parser, Debug)]
#[command(name = "seg-demo", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub train: TrainArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train (the default): synthetic shapes, or your folder with --data-dir.
    Train(TrainArgs),
    /// Predict masks (colour or class index PNG) for an image or a folder of images.
    Predict(PredictArgs),
    /// Score a trained model on a folder of images and masks: IoU and Dice per class, means.
    Eval(EvalArgs),
    /// Convert the HeLa nuclei TIFFs (see scripts/fetch-nuclei.sh) into a data folder.
    PrepareNuclei(PrepareNucleiArgs),
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Total number of epochs [default: 10; with --resume: the saved value].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per batch.
    #[arg(long, default_value_t = defaults::BATCH_SIZE)]
    pub batch_size: usize,
    /// Peak learning rate (Adam with cosine decay).
    #[arg(long = "lr", default_value_t = defaults::LEARNING_RATE)]
    pub learning_rate: f64,
    /// Side length images are resized to (a multiple of 8).
    #[arg(long, default_value_t = defaults::IMAGE_SIZE)]
    pub image_size: usize,
    /// Number of classes. Default: 5 for the synthetic set; with --data-dir, the largest mask
    /// value + 1 (255 aside), inferred from the masks and printed.
    #[arg(long)]
    pub classes: Option<usize>,
    /// Loss function.
    #[arg(long, value_enum, default_value_t = LossKind::DiceCe)]
    pub loss: LossKind,
    /// Per-class weights, comma-separated, one per class (e.g. 1,1,1,2,4).
    #[arg(long, value_delimiter = ',')]
    pub class_weights: Option<Vec<f32>>,
    /// Factor of the Dice term in dice-ce and focal-dice.
    #[arg(long, default_value_t = 1.0)]
    pub dice_weight: f32,
    /// Your data: a folder with images/ and same-named PNG masks in masks/ (class index per
    /// pixel, 255 = ignore). Without it, synthetic shapes are generated.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Fraction of --data-dir images held out for validation.
    #[arg(long, default_value_t = 0.2)]
    pub valid_fraction: f32,
    /// Synthetic training images.
    #[arg(long, default_value_t = defaults::NUM_TRAIN)]
    pub num_train: usize,
    /// Synthetic validation images.
    #[arg(long, default_value_t = defaults::NUM_VALID)]
    pub num_valid: usize,
    /// Channels of the first U-Net stage (stages use w, 3w, 6w, 12w).
    #[arg(long, default_value_t = defaults::BASE_WIDTH)]
    pub width: usize,
    /// How convolutions compute: patches + matmul (fast backward on CPU) or Burn's conv ops.
    #[arg(long, value_enum, default_value_t = Conv::Matmul)]
    pub conv: Conv,
    /// Where checkpoints, config.json, metrics.jsonl, model.mpk and panels/ go.
    #[arg(long, default_value = defaults::OUTPUT_DIR)]
    pub output_dir: PathBuf,
    /// Seed for data, shuffling and initialisation.
    #[arg(long, default_value_t = defaults::SEED)]
    pub seed: u64,
    /// Continue from the last checkpoint in --output-dir, with its saved config.json.
    #[arg(long)]
    pub resume: bool,
    /// Print plain progress lines even in a terminal (no full-screen UI).
    #[arg(long)]
    pub plain: bool,
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Folder of a training run (holds model.mpk and config.json).
    #[arg(long, default_value = defaults::OUTPUT_DIR)]
    pub model_dir: PathBuf,
    /// Image to segment (PNG or JPEG), or a folder of them.
    #[arg(long, visible_alias = "image")]
    pub input: PathBuf,
    /// Where to write the mask PNG (a folder when --input is one) [default: prediction.png, or
    /// predictions/ for a folder].
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Mask format: class indices (grayscale 0, 1, 2, …) or the colour palette.
    #[arg(long, value_enum, default_value_t = Format::Color)]
    pub format: Format,
    #[command(flatten)]
    pub size: SizeArgs,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Folder of a training run (holds model.mpk and config.json).
    #[arg(long, default_value = defaults::OUTPUT_DIR)]
    pub model_dir: PathBuf,
    /// Folder with images/ and masks/ (for a folder split into train/ and valid/: its valid/).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Also write the scores as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also count objects: connected regions (8-connected) of this class, predicted vs true,
    /// per image (e.g. 1 for nuclei).
    #[arg(long)]
    pub count_class: Option<u8>,
    #[command(flatten)]
    pub size: SizeArgs,
}

#[derive(Args, Debug)]
pub struct PrepareNucleiArgs {
    /// The frames: a multi-page grayscale TIFF (Fluo_Hela_02_img.tif).
    #[arg(long)]
    pub image_tiff: PathBuf,
    /// The instance masks: a multi-page TIFF of nucleus ids (Fluo_Hela_02_ERR_SEG.tif).
    #[arg(long)]
    pub mask_tiff: PathBuf,
    /// The data folder to write (train/, valid/, valid-frames/, summary.json).
    #[arg(long, default_value = "data/nuclei")]
    pub output: PathBuf,
    /// Tile side in pixels (a multiple of 8 to train at it unresized).
    #[arg(long, default_value_t = nuclei::DEFAULT_TILE)]
    pub tile: usize,
    /// Scale applied to the frames before tiling (0.5: 1100x700 -> 550x350).
    #[arg(long, default_value_t = nuclei::DEFAULT_SCALE)]
    pub scale: f32,
    /// Add class 2: a 2-pixel boundary between touching nuclei.
    #[arg(long)]
    pub boundary: bool,
    /// The last K frames are validation, the others training.
    #[arg(long, default_value_t = nuclei::DEFAULT_VALID_FRAMES)]
    pub valid_frames: usize,
}

impl PrepareNucleiArgs {
    /// The conversion these flags describe.
    pub fn to_options(&self) -> nuclei::PrepareOptions {
        nuclei::PrepareOptions {
            tile: self.tile,
            scale: self.scale,
            boundary: self.boundary,
            valid_frames: self.valid_frames,
            ..nuclei::PrepareOptions::new(&self.image_tiff, &self.mask_tiff, &self.output)
        }
    }
}

#[derive(Args, Debug)]
pub struct SizeArgs {
    /// Run the network at each image's own size (padded to a multiple of 8) instead of resizing
    /// it to the training size: for images larger than the training tiles at the same scale.
    #[arg(long)]
    pub native_size: bool,
}

impl SizeArgs {
    pub fn input_size(&self, config: &TrainConfig) -> InputSize {
        if self.native_size {
            InputSize::Native
        } else {
            InputSize::Training(config.image_size)
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Conv {
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
pub enum Format {
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
    pub fn to_config(&self) -> Result<TrainConfig, String> {
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
                    "--classes not given: {classes} classes, from the largest mask value in {}",
                    dir.display()
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
