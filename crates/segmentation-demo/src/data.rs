//! Data: a deterministic synthetic shapes set, a loader for image/mask folders, and the
//! [`Batcher`] turning samples into tensors.
//!
//! Every sample is stored at the training resolution as an RGB image in `[0, 1]` (channel-major,
//! `3 × H × W`) and a mask of class indices (`H × W`, [`IGNORE_INDEX`] marks excluded pixels).

use std::fmt;
use std::path::{Path, PathBuf};

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use image::imageops::FilterType;

/// Mask value marking a pixel excluded from losses and metrics.
pub const IGNORE_INDEX: u8 = 255;

/// Class names of the synthetic data set, indexed by class.
pub const SYNTHETIC_CLASS_NAMES: [&str; 5] =
    ["background", "circle", "rectangle", "triangle", "dot"];

/// One segmentation sample at training resolution.
#[derive(Clone, Debug, PartialEq)]
pub struct SegSample {
    /// Side length in pixels (images are square).
    pub size: usize,
    /// RGB values in `[0, 1]`, channel-major: `image[c * size * size + y * size + x]`.
    pub image: Vec<f32>,
    /// Class index per pixel (`mask[y * size + x]`); [`IGNORE_INDEX`] = excluded.
    pub mask: Vec<u8>,
}

/// A train/validation split.
#[derive(Clone, Debug)]
pub struct SplitData {
    /// Training samples.
    pub train: Vec<SegSample>,
    /// Validation samples.
    pub valid: Vec<SegSample>,
}

// ---------------------------------------------------------------------------------------------
// Deterministic random numbers (no external dependency, stable across platforms and versions).
// ---------------------------------------------------------------------------------------------

/// A small deterministic PRNG (SplitMix64), so the synthetic set depends only on the seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5EED_5EED_1234_5678)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in `[0, n)`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Standard normal sample (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-7);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Synthetic shapes.
// ---------------------------------------------------------------------------------------------

/// Settings of the synthetic shapes data set.
#[derive(Clone, Debug)]
pub struct SyntheticConfig {
    /// Number of training images.
    pub num_train: usize,
    /// Number of validation images.
    pub num_valid: usize,
    /// Side length of the square images.
    pub image_size: usize,
    /// Seed; the same seed gives the same images.
    pub seed: u64,
    /// Standard deviation of the Gaussian pixel noise.
    pub noise: f32,
}

impl SyntheticConfig {
    /// A config with the default noise level.
    pub fn new(num_train: usize, num_valid: usize, image_size: usize, seed: u64) -> Self {
        Self {
            num_train,
            num_valid,
            image_size,
            seed,
            noise: 0.05,
        }
    }

    /// Generates the train and validation splits (validation uses a different stream of the same
    /// seed, so changing `num_train` does not change the validation images).
    pub fn generate(&self) -> SplitData {
        let mut train_rng = Rng::new(self.seed.wrapping_mul(2).wrapping_add(1));
        let mut valid_rng = Rng::new(self.seed.wrapping_mul(2).wrapping_add(2));
        SplitData {
            train: (0..self.num_train)
                .map(|_| synthetic_sample(&mut train_rng, self.image_size, self.noise))
                .collect(),
            valid: (0..self.num_valid)
                .map(|_| synthetic_sample(&mut valid_rng, self.image_size, self.noise))
                .collect(),
        }
    }
}

#[derive(Clone, Copy)]
enum Shape {
    Disc { cx: f32, cy: f32, r: f32 },
    Rect { x0: f32, y0: f32, x1: f32, y1: f32 },
    Triangle([(f32, f32); 3]),
}

impl Shape {
    fn contains(&self, x: f32, y: f32) -> bool {
        match *self {
            Shape::Disc { cx, cy, r } => (x - cx).powi(2) + (y - cy).powi(2) <= r * r,
            Shape::Rect { x0, y0, x1, y1 } => x >= x0 && x <= x1 && y >= y0 && y <= y1,
            Shape::Triangle([a, b, c]) => {
                let edge = |p: (f32, f32), q: (f32, f32)| {
                    (q.0 - p.0) * (y - p.1) - (q.1 - p.1) * (x - p.0)
                };
                let (d1, d2, d3) = (edge(a, b), edge(b, c), edge(c, a));
                let has_neg = d1 < 0.0 || d2 < 0.0 || d3 < 0.0;
                let has_pos = d1 > 0.0 || d2 > 0.0 || d3 > 0.0;
                !(has_neg && has_pos)
            }
        }
    }
}

fn hsv_to_rgb(hue: f32, sat: f32, val: f32) -> [f32; 3] {
    let h = hue.rem_euclid(360.0) / 60.0;
    let c = val * sat;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = val - c;
    [r + m, g + m, b + m]
}

/// Base hue (degrees) of each foreground class; instances vary around it.
const CLASS_HUES: [f32; 5] = [0.0, 0.0, 120.0, 230.0, 60.0];

/// A colour for an object of `class`: its class hue ± 25°, random saturation and brightness.
/// Saturation can be low, so colour alone does not settle every pixel; shape, size and
/// context do the rest.
fn class_colour(rng: &mut Rng, class: u8) -> [f32; 3] {
    let hue = CLASS_HUES[class as usize] + rng.range(-25.0, 25.0);
    hsv_to_rgb(hue, rng.range(0.45, 1.0), rng.range(0.6, 1.0))
}

/// One synthetic image: a dark, weakly tinted background with a gentle gradient, 1–4 large
/// shapes (circle, rectangle, triangle — triangles rarer), sometimes a few small "dots" (the rare
/// class), and Gaussian noise. Each class has a characteristic hue with random variation
/// (see [`class_colour`]).
pub fn synthetic_sample(rng: &mut Rng, size: usize, noise: f32) -> SegSample {
    let s = size as f32;
    let background = hsv_to_rgb(
        rng.range(0.0, 360.0),
        rng.range(0.0, 0.3),
        rng.range(0.05, 0.45),
    );
    let gradient = [rng.range(-0.15, 0.15), rng.range(-0.15, 0.15)];

    let mut shapes: Vec<(Shape, u8, [f32; 3])> = Vec::new();
    let num_large = 1 + rng.below(4);
    for _ in 0..num_large {
        let class = match rng.uniform() {
            u if u < 0.4 => 1,
            u if u < 0.8 => 2,
            _ => 3,
        };
        let (cx, cy) = (rng.range(0.1, 0.9) * s, rng.range(0.1, 0.9) * s);
        let shape = match class {
            1 => Shape::Disc {
                cx,
                cy,
                r: rng.range(0.12, 0.24) * s,
            },
            2 => {
                let (hw, hh) = (rng.range(0.08, 0.22) * s, rng.range(0.08, 0.22) * s);
                Shape::Rect {
                    x0: cx - hw,
                    y0: cy - hh,
                    x1: cx + hw,
                    y1: cy + hh,
                }
            }
            _ => {
                let r = rng.range(0.14, 0.28) * s;
                let rot = rng.range(0.0, std::f32::consts::TAU);
                let mut pts = [(0.0, 0.0); 3];
                for (k, p) in pts.iter_mut().enumerate() {
                    let a = rot + k as f32 * std::f32::consts::TAU / 3.0 + rng.range(-0.25, 0.25);
                    *p = (cx + r * a.cos(), cy + r * a.sin());
                }
                Shape::Triangle(pts)
            }
        };
        shapes.push((shape, class, class_colour(rng, class)));
    }
    if rng.uniform() < 0.4 {
        for _ in 0..1 + rng.below(3) {
            let shape = Shape::Disc {
                cx: rng.range(0.05, 0.95) * s,
                cy: rng.range(0.05, 0.95) * s,
                r: rng.range(0.05, 0.07) * s,
            };
            shapes.push((shape, 4, class_colour(rng, 4)));
        }
    }

    let mut image = vec![0.0f32; 3 * size * size];
    let mut mask = vec![0u8; size * size];
    for y in 0..size {
        for x in 0..size {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let shade = gradient[0] * (px / s - 0.5) + gradient[1] * (py / s - 0.5);
            let mut colour = background.map(|c| c + shade);
            // Later shapes are drawn on top of earlier ones, in the image and in the mask.
            for (shape, class, c) in &shapes {
                if shape.contains(px, py) {
                    colour = *c;
                    mask[y * size + x] = *class;
                }
            }
            for (ch, value) in colour.iter().enumerate() {
                image[ch * size * size + y * size + x] =
                    (value + noise * rng.normal()).clamp(0.0, 1.0);
            }
        }
    }
    SegSample { size, image, mask }
}

// ---------------------------------------------------------------------------------------------
// Folder loader.
// ---------------------------------------------------------------------------------------------

/// Why loading a user data folder failed. Every variant names the offending path.
#[derive(Debug)]
pub enum DataError {
    /// A folder that must exist does not.
    MissingFolder(PathBuf),
    /// A folder exists but holds no images.
    NoImages(PathBuf),
    /// An image has no mask of the same name (`masks/<stem>.png`).
    MissingMask {
        /// The image.
        image: PathBuf,
        /// The mask path that was expected.
        expected: PathBuf,
    },
    /// A file could not be read or decoded.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// A mask's size differs from its image's.
    SizeMismatch {
        /// The mask.
        mask: PathBuf,
        /// Mask width and height.
        mask_size: (u32, u32),
        /// Image width and height.
        image_size: (u32, u32),
    },
    /// A mask holds a class index `>= num_classes` that is not the ignore value 255.
    BadClassIndex {
        /// The mask.
        mask: PathBuf,
        /// The offending value.
        value: u8,
        /// Pixel position `(x, y)` of its first occurrence.
        at: (u32, u32),
        /// The configured number of classes.
        num_classes: usize,
    },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingFolder(p) => write!(f, "folder not found: {}", p.display()),
            Self::NoImages(p) => write!(f, "no .png/.jpg/.jpeg images in {}", p.display()),
            Self::MissingMask { image, expected } => write!(
                f,
                "image {} has no mask: expected {}",
                image.display(),
                expected.display()
            ),
            Self::Unreadable { path, reason } => {
                write!(f, "cannot read image {}: {reason}", path.display())
            }
            Self::SizeMismatch {
                mask,
                mask_size,
                image_size,
            } => write!(
                f,
                "mask {} is {}x{} but its image is {}x{}",
                mask.display(),
                mask_size.0,
                mask_size.1,
                image_size.0,
                image_size.1
            ),
            Self::BadClassIndex {
                mask,
                value,
                at,
                num_classes,
            } => write!(
                f,
                "mask {} has class index {value} at pixel ({}, {}), but --classes is {num_classes} \
                 (valid values: 0..={} and 255 = ignore)",
                mask.display(),
                at.0,
                at.1,
                num_classes - 1
            ),
        }
    }
}

impl std::error::Error for DataError {}

fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

fn open_image(path: &Path) -> Result<image::DynamicImage, DataError> {
    image::ImageReader::open(path)
        .map_err(|e| DataError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?
        .with_guessed_format()
        .map_err(|e| DataError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?
        .decode()
        .map_err(|e| DataError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Reads an image file and resizes it (bilinear) to `size × size`, as channel-major RGB in `[0, 1]`.
pub fn load_image(path: &Path, size: usize) -> Result<Vec<f32>, DataError> {
    Ok(image_to_chw(&open_image(path)?, size))
}

fn image_to_chw(img: &image::DynamicImage, size: usize) -> Vec<f32> {
    let rgb = img
        .resize_exact(size as u32, size as u32, FilterType::Triangle)
        .to_rgb8();
    let mut out = vec![0.0f32; 3 * size * size];
    for (x, y, p) in rgb.enumerate_pixels() {
        for ch in 0..3 {
            out[ch * size * size + y as usize * size + x as usize] = p[ch] as f32 / 255.0;
        }
    }
    out
}

/// Loads one image and its mask, checks them, and resizes both to `size` (nearest for the mask).
pub fn load_pair(
    image_path: &Path,
    mask_path: &Path,
    size: usize,
    num_classes: usize,
) -> Result<SegSample, DataError> {
    let img = open_image(image_path)?;
    let mask = open_image(mask_path)?.to_luma8();
    if mask.dimensions() != (img.width(), img.height()) {
        return Err(DataError::SizeMismatch {
            mask: mask_path.to_path_buf(),
            mask_size: mask.dimensions(),
            image_size: (img.width(), img.height()),
        });
    }
    if let Some((x, y, p)) = mask
        .enumerate_pixels()
        .find(|(_, _, p)| p[0] as usize >= num_classes && p[0] != IGNORE_INDEX)
    {
        return Err(DataError::BadClassIndex {
            mask: mask_path.to_path_buf(),
            value: p[0],
            at: (x, y),
            num_classes,
        });
    }
    let mask = image::imageops::resize(&mask, size as u32, size as u32, FilterType::Nearest);
    Ok(SegSample {
        size,
        image: image_to_chw(&img, size),
        mask: mask.into_raw(),
    })
}

/// Loads `<dir>/images/*.{png,jpg,jpeg}` with their masks `<dir>/masks/<stem>.png`, and splits
/// them (shuffled by `seed`) into train and validation, `valid_fraction` going to validation
/// (at least one image each when there are two or more).
pub fn load_folder(
    dir: &Path,
    size: usize,
    num_classes: usize,
    valid_fraction: f32,
    seed: u64,
) -> Result<SplitData, DataError> {
    let images_dir = dir.join("images");
    let masks_dir = dir.join("masks");
    for d in [dir, images_dir.as_path(), masks_dir.as_path()] {
        if !d.is_dir() {
            return Err(DataError::MissingFolder(d.to_path_buf()));
        }
    }
    let mut image_paths: Vec<PathBuf> = std::fs::read_dir(&images_dir)
        .map_err(|e| DataError::Unreadable {
            path: images_dir.clone(),
            reason: e.to_string(),
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_image_file(p))
        .collect();
    if image_paths.is_empty() {
        return Err(DataError::NoImages(images_dir));
    }
    image_paths.sort();

    let mut samples = Vec::with_capacity(image_paths.len());
    for image_path in &image_paths {
        let stem = image_path.file_stem().unwrap_or_default();
        let mask_path = masks_dir.join(stem).with_extension("png");
        if !mask_path.is_file() {
            return Err(DataError::MissingMask {
                image: image_path.clone(),
                expected: mask_path,
            });
        }
        samples.push(load_pair(image_path, &mask_path, size, num_classes)?);
    }

    Rng::new(seed).shuffle(&mut samples);
    let n = samples.len();
    let mut num_valid = ((n as f32) * valid_fraction).round() as usize;
    if n >= 2 {
        num_valid = num_valid.clamp(1, n - 1);
    } else {
        num_valid = 0;
    }
    let train = samples.split_off(num_valid);
    let valid = if samples.is_empty() {
        train.clone()
    } else {
        samples
    };
    Ok(SplitData { train, valid })
}

/// The number of classes the masks of `<dir>/masks/*.png` use: the largest value other than
/// the ignore value 255, plus one (what `train --data-dir` assumes without `--classes`).
///
/// Errors if the folder is missing, a mask cannot be decoded, there is no mask, or no mask has
/// a labelled pixel.
pub fn infer_num_classes(dir: &Path) -> Result<usize, DataError> {
    let masks_dir = dir.join("masks");
    if !masks_dir.is_dir() {
        return Err(DataError::MissingFolder(masks_dir));
    }
    let unreadable = |path: &Path, reason: String| DataError::Unreadable {
        path: path.to_path_buf(),
        reason,
    };
    let mut masks: Vec<PathBuf> = std::fs::read_dir(&masks_dir)
        .map_err(|e| unreadable(&masks_dir, e.to_string()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .collect();
    masks.sort();
    if masks.is_empty() {
        return Err(DataError::NoImages(masks_dir));
    }
    let mut largest: Option<u8> = None;
    for path in &masks {
        let mask = open_image(path)?.to_luma8();
        let top = mask
            .pixels()
            .map(|p| p[0])
            .filter(|&v| v != IGNORE_INDEX)
            .max();
        largest = largest.max(top);
    }
    largest.map(|v| usize::from(v) + 1).ok_or_else(|| {
        unreadable(
            &masks_dir,
            "no mask has a labelled pixel (every value is the ignore value 255)".into(),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Batching.
// ---------------------------------------------------------------------------------------------

/// A batch ready for the network.
#[derive(Clone, Debug)]
pub struct SegBatch<B: Backend> {
    /// Normalised images `[N, 3, H, W]` (values in `[-1, 1]`).
    pub images: Tensor<B, 4>,
    /// Class indices `[N, H, W]`; 255 = ignored pixel.
    pub masks: Tensor<B, 3, Int>,
}

/// Turns [`SegSample`]s into a [`SegBatch`].
#[derive(Clone, Debug, Default)]
pub struct SegBatcher;

/// Normalises `[0, 1]` pixel values the way the network expects (to `[-1, 1]`).
pub fn images_to_tensor<B: Backend>(
    images: &[&[f32]],
    size: usize,
    device: &B::Device,
) -> Tensor<B, 4> {
    let flat: Vec<f32> = images
        .iter()
        .flat_map(|img| img.iter().map(|v| v * 2.0 - 1.0))
        .collect();
    Tensor::from_data(TensorData::new(flat, [images.len(), 3, size, size]), device)
}

impl<B: Backend> Batcher<B, SegSample, SegBatch<B>> for SegBatcher {
    fn batch(&self, items: Vec<SegSample>, device: &B::Device) -> SegBatch<B> {
        let size = items[0].size;
        let images: Vec<&[f32]> = items.iter().map(|s| s.image.as_slice()).collect();
        let masks: Vec<i64> = items
            .iter()
            .flat_map(|s| s.mask.iter().map(|&m| m as i64))
            .collect();
        SegBatch {
            images: images_to_tensor(&images, size, device),
            masks: Tensor::from_data(TensorData::new(masks, [items.len(), size, size]), device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_is_deterministic_and_has_all_classes() {
        let a = SyntheticConfig::new(40, 8, 32, 7).generate();
        let b = SyntheticConfig::new(40, 8, 32, 7).generate();
        assert_eq!(a.train, b.train);
        assert_eq!(a.valid, b.valid);
        let mut seen = [false; 5];
        for s in &a.train {
            for &m in &s.mask {
                seen[m as usize] = true;
            }
        }
        assert_eq!(seen, [true; 5]);
    }
}
