//! The loader for image/mask folders: checks, resizing, a parallel decode with progress, and the
//! train/validation split.
//!
//! A data folder is either pooled, `DIR/images` + `DIR/masks` (split at random by
//! `valid_fraction`), or already split, `DIR/train/{images,masks}` + `DIR/valid/{images,masks}`
//! (used as given: keep related images, e.g. tiles of one frame, on one side).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use image::imageops::FilterType;

use super::synthetic::Rng;
use super::{DataError, IGNORE_INDEX, SegSample, SplitData};

fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

/// Decodes an image file (format guessed from its content).
pub fn open_image(path: &Path) -> Result<image::DynamicImage, DataError> {
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

/// An image resized (bilinear) to `size × size` as 8-bit RGB, channel-major.
pub fn rgb_planes(img: &image::DynamicImage, size: usize) -> Vec<u8> {
    let rgb = img
        .resize_exact(size as u32, size as u32, FilterType::Triangle)
        .to_rgb8();
    let plane = size * size;
    let mut out = vec![0u8; 3 * plane];
    for (i, p) in rgb.pixels().enumerate() {
        for ch in 0..3 {
            out[ch * plane + i] = p[ch];
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
        image: rgb_planes(&img, size),
        mask: mask.into_raw(),
    })
}

/// Called with `(done, total)` as images are decoded, from the decoding threads.
pub type LoadProgress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// A [`LoadProgress`] that prints `<label>: done/total` to stderr at every quarter and at the end.
pub fn progress_lines(label: String) -> impl Fn(usize, usize) + Sync {
    let printed = AtomicUsize::new(0);
    move |done, total| {
        let quarter = 4 * done / total.max(1);
        if quarter > printed.fetch_max(quarter, Ordering::Relaxed) {
            eprintln!("{label}: {done}/{total} images");
        }
    }
}

/// Whether `dir` is split already (`train/` and `valid/` subfolders).
pub fn is_presplit(dir: &Path) -> bool {
    dir.join("train").is_dir() && dir.join("valid").is_dir()
}

/// The folders holding images and masks: `[dir]`, or `[dir/train, dir/valid]` when split.
fn part_dirs(dir: &Path) -> Vec<PathBuf> {
    if is_presplit(dir) {
        vec![dir.join("train"), dir.join("valid")]
    } else {
        vec![dir.to_path_buf()]
    }
}

fn list_files(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>, DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingFolder(dir.to_path_buf()));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DataError::Unreadable {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && keep(p))
        .collect();
    if files.is_empty() {
        return Err(DataError::NoImages(dir.to_path_buf()));
    }
    files.sort();
    Ok(files)
}

/// The `.png`/`.jpg`/`.jpeg` files directly in `dir`, sorted.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    list_files(dir, is_image_file)
}

/// `(image, mask)` paths of `<dir>/images/*.{png,jpg,jpeg}` and `<dir>/masks/<stem>.png`, sorted.
pub fn list_pairs(dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>, DataError> {
    let masks_dir = dir.join("masks");
    if !masks_dir.is_dir() {
        return Err(DataError::MissingFolder(masks_dir));
    }
    list_images(&dir.join("images"))?
        .into_iter()
        .map(|image| {
            let mask = masks_dir
                .join(image.file_stem().unwrap_or_default())
                .with_extension("png");
            if mask.is_file() {
                Ok((image, mask))
            } else {
                Err(DataError::MissingMask {
                    image,
                    expected: mask,
                })
            }
        })
        .collect()
}

/// Loads `pairs` with [`load_pair`] on all cores, in order; the first failing pair (in order)
/// is the error.
pub fn load_pairs(
    pairs: &[(PathBuf, PathBuf)],
    size: usize,
    num_classes: usize,
    progress: LoadProgress<'_>,
) -> Result<Vec<SegSample>, DataError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Mutex<Vec<Option<Result<SegSample, DataError>>>> =
        Mutex::new((0..pairs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.min(pairs.len()) {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((image, mask)) = pairs.get(i) else {
                        break;
                    };
                    let sample = load_pair(image, mask, size, num_classes);
                    failed.fetch_or(sample.is_err(), Ordering::Relaxed);
                    slots.lock().expect("no decoder panicked")[i] = Some(sample);
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, pairs.len());
                }
            });
        }
    });
    let slots = slots.into_inner().expect("no decoder panicked");
    let mut samples = Vec::with_capacity(pairs.len());
    for slot in slots {
        // After a failure, later slots may be empty; the failure comes first in order.
        match slot {
            Some(sample) => samples.push(sample?),
            None => break,
        }
    }
    Ok(samples)
}

/// [`load_folder_with_progress`] without progress output.
pub fn load_folder(
    dir: &Path,
    size: usize,
    num_classes: usize,
    valid_fraction: f32,
    seed: u64,
) -> Result<SplitData, DataError> {
    load_folder_with_progress(dir, size, num_classes, valid_fraction, seed, &|_, _| {})
}

/// Loads a data folder (see the [module docs](self)) at `size × size`. A pooled folder is
/// shuffled by `seed` and `valid_fraction` of it goes to validation (at least one image each
/// when there are two or more); a split folder is used as it is.
pub fn load_folder_with_progress(
    dir: &Path,
    size: usize,
    num_classes: usize,
    valid_fraction: f32,
    seed: u64,
    progress: LoadProgress<'_>,
) -> Result<SplitData, DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingFolder(dir.to_path_buf()));
    }
    if is_presplit(dir) {
        let train = list_pairs(&dir.join("train"))?;
        let valid = list_pairs(&dir.join("valid"))?;
        let both = [train.as_slice(), valid.as_slice()].concat();
        let mut all = load_pairs(&both, size, num_classes, progress)?;
        let valid = all.split_off(train.len());
        return Ok(SplitData { train: all, valid });
    }
    let mut samples = load_pairs(&list_pairs(dir)?, size, num_classes, progress)?;
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

/// The number of classes the masks of a data folder use: the largest value other than the
/// ignore value 255, plus one (what `train --data-dir` assumes without `--classes`).
///
/// Errors if a folder is missing, a mask cannot be decoded, there is no mask, or no mask has
/// a labelled pixel.
pub fn infer_num_classes(dir: &Path) -> Result<usize, DataError> {
    let is_png = |p: &Path| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
    let mut largest: Option<u8> = None;
    for part in part_dirs(dir) {
        for path in list_files(&part.join("masks"), is_png)? {
            let mask = open_image(&path)?.to_luma8();
            let top = mask
                .pixels()
                .map(|p| p[0])
                .filter(|&v| v != IGNORE_INDEX)
                .max();
            largest = largest.max(top);
        }
    }
    largest
        .map(|v| usize::from(v) + 1)
        .ok_or_else(|| DataError::Unreadable {
            path: dir.to_path_buf(),
            reason: "no mask has a labelled pixel (every value is the ignore value 255)".into(),
        })
}
