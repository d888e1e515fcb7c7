//! Using a trained network: loading it, class maps of images at their own size, evaluation
//! over samples and over image/mask folders.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::record::CompactRecorder;
use image::imageops::FilterType;

use crate::config::TrainConfig;
use crate::data::{
    LoadProgress, SegBatch, SegBatcher, SegSample, images_to_tensor, list_pairs, open_image,
    rgb_planes,
};
use crate::metrics::{ConfusionMatrix, count_components};
use crate::model::UNet;
use crate::training::{MODEL_FILE, TrainError};
use crate::visual::ValidationPanel;

/// Arg-max over the class axis: logits `[N, C, H, W]` to classes `[N, H, W]`.
pub fn predict_classes<B: Backend>(logits: Tensor<B, 4>) -> Tensor<B, 3, Int> {
    let [n, _, h, w] = logits.dims();
    logits.argmax(1).reshape([n, h, w])
}

/// Runs `model` over `samples`, returning their confusion matrix and the first `num_panels`
/// (image, ground truth, prediction) triples.
pub fn evaluate<B: Backend>(
    model: &UNet<B>,
    samples: &[SegSample],
    batch_size: usize,
    num_panels: usize,
    device: &B::Device,
) -> (ConfusionMatrix, Vec<ValidationPanel>) {
    let num_classes = model_num_classes(model);
    let mut confusion = ConfusionMatrix::new(num_classes);
    let mut panels = Vec::new();
    for chunk in samples.chunks(batch_size.max(1)) {
        let batch: SegBatch<B> =
            burn::data::dataloader::batcher::Batcher::batch(&SegBatcher, chunk.to_vec(), device);
        let predictions = predict_classes(model.forward(batch.images));
        let predictions: Vec<i64> = predictions.into_data().iter::<i64>().collect();
        let targets = chunk.iter().flat_map(|s| s.mask.iter().map(|&m| m as i64));
        confusion.add(predictions.iter().copied(), targets);
        let pixels = chunk[0].size * chunk[0].size;
        for (sample, prediction) in chunk.iter().zip(predictions.chunks(pixels)) {
            if panels.len() < num_panels {
                panels.push(ValidationPanel {
                    sample: sample.clone(),
                    prediction: prediction.iter().map(|&p| p as u8).collect(),
                });
            }
        }
    }
    (confusion, panels)
}

/// The number of classes a trained network predicts.
pub fn model_num_classes<B: Backend>(model: &UNet<B>) -> usize {
    model.num_classes()
}

/// Loads `<dir>/model.mpk` written by [`train`], using `<dir>/config.json` for its shape.
pub fn load_model<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(UNet<B>, TrainConfig), TrainError> {
    let config = TrainConfig::load(dir)?;
    let path: PathBuf = dir.join(MODEL_FILE);
    let model = config
        .unet()
        .init::<B>(device)
        .load_file(&path, &CompactRecorder::new(), device)
        .map_err(|e| TrainError(format!("cannot load {}.mpk: {e}", path.display())))?;
    Ok((model, config))
}

/// A predicted class map at an image's own size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassMap {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Class per pixel, row-major.
    pub classes: Vec<u8>,
}

/// How an image is brought to the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputSize {
    /// Resized (bilinear) to the training size; the class map is scaled back to the image's size
    /// (nearest neighbour). Right when images look like the training images at another size.
    Training(usize),
    /// At the image's own size, padded by repeating its edge to a multiple of 8 (the U-Net
    /// halves the size three times) and cropped back. Right when the training images were tiles
    /// of larger images at the same scale, e.g. whole microscopy frames.
    Native,
}

/// An 8-bit image as the network input `[1, 3, h, w]` with `h, w` rounded up to a multiple of 8
/// by repeating the last row and column.
fn padded_input(rgb: &image::RgbImage) -> (Vec<u8>, usize, usize) {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let (pw, ph) = (w.div_ceil(8) * 8, h.div_ceil(8) * 8);
    let mut chw = vec![0u8; 3 * ph * pw];
    for y in 0..ph {
        for x in 0..pw {
            let p = rgb.get_pixel(x.min(w - 1) as u32, y.min(h - 1) as u32);
            for c in 0..3 {
                chw[(c * ph + y) * pw + x] = p[c];
            }
        }
    }
    (chw, ph, pw)
}

/// The class map of an image file (PNG or JPEG) at the image's own size.
pub fn predict_image<B: Backend>(
    model: &UNet<B>,
    path: &Path,
    input: InputSize,
    device: &B::Device,
) -> Result<ClassMap, TrainError> {
    let img = open_image(path).map_err(|e| TrainError(e.to_string()))?;
    let (width, height) = (img.width(), img.height());
    let classes = match input {
        InputSize::Training(size) => {
            let small = image::GrayImage::from_raw(
                size as u32,
                size as u32,
                run(model, &rgb_planes(&img, size), size, size, device),
            )
            .expect("size × size classes");
            image::imageops::resize(&small, width, height, FilterType::Nearest).into_raw()
        }
        InputSize::Native => {
            let (chw, ph, pw) = padded_input(&img.to_rgb8());
            let padded = run(model, &chw, ph, pw, device);
            (0..height as usize)
                .flat_map(|y| padded[y * pw..y * pw + width as usize].to_vec())
                .collect()
        }
    };
    Ok(ClassMap {
        width,
        height,
        classes,
    })
}

fn run<B: Backend>(model: &UNet<B>, chw: &[u8], h: usize, w: usize, device: &B::Device) -> Vec<u8> {
    let input = images_to_tensor::<B>(&[chw], [h, w], device);
    predict_classes(model.forward(input))
        .into_data()
        .iter::<i64>()
        .map(|c| c as u8)
        .collect()
}

/// What [`evaluate_folder`] measured.
#[derive(Clone, Debug)]
pub struct FolderEvaluation {
    /// Pixel counts over all images, at each mask's own size.
    pub confusion: ConfusionMatrix,
    /// Number of images.
    pub images: usize,
    /// Per image, when a class to count was given: its objects in the prediction and in the mask.
    pub objects: Vec<ObjectCount>,
}

/// The number of objects (8-connected regions, see [`count_components`]) of one class in an
/// image's prediction and in its mask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectCount {
    /// The image.
    pub image: PathBuf,
    /// Regions in the predicted class map.
    pub predicted: usize,
    /// Regions in the mask.
    pub truth: usize,
}

/// Predicts every image of `<dir>/images` (see [`predict_image`]) and compares it with its mask
/// `<dir>/masks/<stem>.png` at the mask's own size (255 = not counted); with `count_class`,
/// also counts that class's objects in both. `progress` is called with `(done, total)`.
pub fn evaluate_folder<B: Backend>(
    model: &UNet<B>,
    dir: &Path,
    input: InputSize,
    count_class: Option<u8>,
    device: &B::Device,
    progress: LoadProgress<'_>,
) -> Result<FolderEvaluation, TrainError> {
    let pairs = list_pairs(dir).map_err(|e| TrainError(e.to_string()))?;
    let num_classes = model_num_classes(model);
    let mut confusion = ConfusionMatrix::new(num_classes);
    let mut objects = Vec::new();
    for (k, (image, mask_path)) in pairs.iter().enumerate() {
        let predicted = predict_image(model, image, input, device)?;
        let mask = open_image(mask_path)
            .map_err(|e| TrainError(e.to_string()))?
            .to_luma8();
        if mask.dimensions() != (predicted.width, predicted.height) {
            return Err(TrainError(format!(
                "mask {} is {}x{} but its image is {}x{}",
                mask_path.display(),
                mask.width(),
                mask.height(),
                predicted.width,
                predicted.height
            )));
        }
        let targets = mask.into_raw();
        if let Some(class) = count_class {
            let (w, h) = (predicted.width as usize, predicted.height as usize);
            objects.push(ObjectCount {
                image: image.clone(),
                predicted: count_components(&predicted.classes, w, h, class),
                truth: count_components(&targets, w, h, class),
            });
        }
        confusion.add(
            predicted.classes.iter().map(|&c| i64::from(c)),
            targets.iter().map(|&t| i64::from(t)),
        );
        progress(k + 1, pairs.len());
    }
    Ok(FolderEvaluation {
        confusion,
        images: pairs.len(),
        objects,
    })
}
