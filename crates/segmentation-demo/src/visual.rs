//! PNG output: colour masks, validation panels (image | ground truth | prediction), and
//! predicted masks as class indices or colours.

use std::path::Path;

use image::{Rgb, RgbImage};

use crate::data::{IGNORE_INDEX, SegSample};
use crate::inference::ClassMap;

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

/// A channel-major 8-bit image as RGB.
pub fn rgb_image(chw: &[u8], size: usize) -> RgbImage {
    let plane = size * size;
    RgbImage::from_fn(size as u32, size as u32, |x, y| {
        let i = y as usize * size + x as usize;
        Rgb([0, 1, 2].map(|c| chw[c * plane + i]))
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

/// How a predicted mask is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MaskFormat {
    /// An 8-bit grayscale PNG of class indices (0, 1, 2, …), the format of training masks.
    Index,
    /// An RGB PNG in the [`class_colour`] palette.
    #[default]
    Color,
}

/// Writes a class map as a PNG in `format`, creating the parent folder.
pub fn save_mask(map: &ClassMap, path: &Path, format: MaskFormat) -> Result<(), String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let saved = match format {
        MaskFormat::Index => image::GrayImage::from_raw(map.width, map.height, map.classes.clone())
            .expect("width × height classes")
            .save(path),
        MaskFormat::Color => RgbImage::from_fn(map.width, map.height, |x, y| {
            Rgb(class_colour(map.classes[(y * map.width + x) as usize]))
        })
        .save(path),
    };
    saved.map_err(|e| format!("cannot write {}: {e}", path.display()))
}
