//! PNG output: colour masks, validation panels (image | ground truth | prediction), and
//! prediction for a single image file.

use std::path::Path;

use burn::prelude::*;
use image::{Rgb, RgbImage};

use crate::data::{IGNORE_INDEX, SegSample, images_to_tensor, load_image};
use crate::model::UNet;
use crate::training::predict_classes;

/// Colour of class `k` in mask images (background black, ignored pixels white).
pub fn class_colour(k: u8) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 10] = [
        [0, 0, 0],
        [230, 25, 75],
        [60, 180, 75],
        [0, 130, 200],
        [255, 225, 25],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [128, 128, 128],
    ];
    if k == IGNORE_INDEX {
        [255, 255, 255]
    } else {
        PALETTE[k as usize % PALETTE.len()]
    }
}

/// A class map (`size × size`, row-major) as an RGB image in the [`class_colour`] palette.
pub fn colour_mask(mask: &[u8], size: usize) -> RgbImage {
    RgbImage::from_fn(size as u32, size as u32, |x, y| {
        Rgb(class_colour(mask[y as usize * size + x as usize]))
    })
}

/// A channel-major `[0, 1]` image as RGB.
pub fn rgb_image(chw: &[f32], size: usize) -> RgbImage {
    let plane = size * size;
    RgbImage::from_fn(size as u32, size as u32, |x, y| {
        let i = y as usize * size + x as usize;
        Rgb([0, 1, 2].map(|c| (chw[c * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8))
    })
}

/// One validation sample with the network's prediction.
#[derive(Clone, Debug)]
pub struct ValidationPanel {
    /// The sample (image and ground truth).
    pub sample: SegSample,
    /// Predicted class per pixel.
    pub prediction: Vec<u8>,
}

/// Scale factor applied to panels so that small images stay visible.
const PANEL_SCALE: u32 = 4;

/// `image | ground truth | prediction`, side by side with a 2-pixel white gap, enlarged
/// [`PANEL_SCALE`] times (nearest neighbour).
pub fn panel_image(panel: &ValidationPanel) -> RgbImage {
    let size = panel.sample.size;
    let parts = [
        rgb_image(&panel.sample.image, size),
        colour_mask(&panel.sample.mask, size),
        colour_mask(&panel.prediction, size),
    ];
    let gap = 2;
    let s = size as u32;
    let mut out = RgbImage::from_pixel(3 * s + 2 * gap, s, Rgb([255, 255, 255]));
    for (k, part) in parts.iter().enumerate() {
        image::imageops::replace(&mut out, part, (k as u32 * (s + gap)) as i64, 0);
    }
    image::imageops::resize(
        &out,
        out.width() * PANEL_SCALE,
        out.height() * PANEL_SCALE,
        image::imageops::FilterType::Nearest,
    )
}

/// Writes `panels/panel-<k>.png` under `dir`.
pub fn write_panels(dir: &Path, panels: &[ValidationPanel]) -> Result<(), String> {
    let panel_dir = dir.join("panels");
    std::fs::create_dir_all(&panel_dir)
        .map_err(|e| format!("cannot create {}: {e}", panel_dir.display()))?;
    for (k, panel) in panels.iter().enumerate() {
        let path = panel_dir.join(format!("panel-{k}.png"));
        panel_image(panel)
            .save(&path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Predicts the class map of the image file `input` at `size × size` and writes it as a colour
/// PNG to `output`. Returns the class map.
pub fn predict_file<B: Backend>(
    model: &UNet<B>,
    input: &Path,
    output: &Path,
    size: usize,
    device: &B::Device,
) -> Result<Vec<u8>, String> {
    let image = load_image(input, size).map_err(|e| e.to_string())?;
    let logits = model.forward(images_to_tensor::<B>(&[&image], size, device));
    let classes: Vec<u8> = predict_classes(logits)
        .into_data()
        .iter::<i64>()
        .map(|c| c as u8)
        .collect();
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    colour_mask(&classes, size)
        .save(output)
        .map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    Ok(classes)
}
