//! [`prepare`]: the TIFF pair to `train/`, `valid/` and `valid-frames/` PNG folders.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::io_error;
use super::summary::summary_json;
use super::*;

/// What [`prepare`] reads, how it converts, and where it writes.
#[derive(Clone, Debug, PartialEq)]
pub struct PrepareOptions {
    /// Multi-page TIFF of the frames (`Fluo_Hela_02_img.tif`).
    pub image_tiff: PathBuf,
    /// Multi-page TIFF of the instance masks (`Fluo_Hela_02_ERR_SEG.tif`).
    pub mask_tiff: PathBuf,
    /// Output folder (created if missing).
    pub output: PathBuf,
    /// Tile side in pixels (at the scaled resolution).
    pub tile: usize,
    /// Scale applied to frames and masks before tiling (`> 0`; 0.5 halves each side).
    pub scale: f32,
    /// Whether to add class 2 for the boundary between touching nuclei.
    pub boundary: bool,
    /// How many frames, the last ones, go to validation (at least 1, fewer than the frames).
    pub valid_frames: usize,
}

impl PrepareOptions {
    /// Options with the defaults: [`DEFAULT_TILE`], [`DEFAULT_SCALE`], no boundary class,
    /// [`DEFAULT_VALID_FRAMES`].
    pub fn new(
        image_tiff: impl Into<PathBuf>,
        mask_tiff: impl Into<PathBuf>,
        output: impl Into<PathBuf>,
    ) -> Self {
        Self {
            image_tiff: image_tiff.into(),
            mask_tiff: mask_tiff.into(),
            output: output.into(),
            tile: DEFAULT_TILE,
            scale: DEFAULT_SCALE,
            boundary: false,
            valid_frames: DEFAULT_VALID_FRAMES,
        }
    }
}

/// Converts the TIFF pair of `options` into `train/`, `valid/` and `valid-frames/` PNG folders
/// plus `summary.json` under `options.output`, as described in the [module docs](self).
pub fn prepare(options: &PrepareOptions) -> Result<PrepareSummary, NucleiError> {
    let bad = |name: &'static str, value: String, reason: String| NucleiError::BadOption {
        name,
        value,
        reason,
    };
    if options.tile == 0 {
        return Err(bad("tile", "0".into(), "must be at least 1".into()));
    }
    if !(options.scale.is_finite() && options.scale > 0.0) {
        return Err(bad(
            "scale",
            options.scale.to_string(),
            "must be a positive number".into(),
        ));
    }
    if options.valid_frames == 0 {
        return Err(bad(
            "valid_frames",
            "0".into(),
            "at least one frame must be held out for validation".into(),
        ));
    }

    let images = read_stack(&options.image_tiff)?;
    let masks = read_stack(&options.mask_tiff)?;
    let shape = |s: &Stack| (s.len(), s.width, s.height);
    if shape(&images) != shape(&masks) {
        return Err(NucleiError::StackMismatch {
            image: options.image_tiff.clone(),
            mask: options.mask_tiff.clone(),
            image_shape: shape(&images),
            mask_shape: shape(&masks),
        });
    }
    let n_frames = images.len();
    if options.valid_frames >= n_frames {
        return Err(bad(
            "valid_frames",
            options.valid_frames.to_string(),
            format!("must be below the number of frames ({n_frames}) to leave training frames"),
        ));
    }
    let (width, height) = (images.width, images.height);
    let (new_w, new_h) = scaled_size(width, height, options.scale);
    if new_w < options.tile || new_h < options.tile {
        return Err(bad(
            "tile",
            options.tile.to_string(),
            format!(
                "larger than the scaled frame ({new_w}x{new_h} = {width}x{height} at scale {})",
                options.scale
            ),
        ));
    }

    prepare_output_folder(&options.output)?;
    for split in ["train", "valid", "valid-frames"] {
        for kind in ["images", "masks"] {
            let dir = options.output.join(split).join(kind);
            fs::create_dir_all(&dir).map_err(io_error(&dir, "create folder"))?;
        }
    }

    let (train_frames, valid_frames) = split_frames(n_frames, options.valid_frames);
    let ys = tile_origins(new_h, options.tile);
    let xs = tile_origins(new_w, options.tile);
    let mut summary = PrepareSummary {
        output: options.output.clone(),
        source_size: (width, height),
        frame_size: (new_w, new_h),
        tile: options.tile,
        num_classes: if options.boundary { 3 } else { 2 },
        train_frames,
        valid_frames,
        tiles_per_frame: ys.len() * xs.len(),
        train_tiles: 0,
        valid_tiles: 0,
        valid_instance_counts: Vec::new(),
        valid_class_components: Vec::new(),
        intensity_ranges: Vec::new(),
        foreground_fraction: 0.0,
        boundary_fraction: 0.0,
    };
    let (mut foreground, mut boundary) = (0usize, 0usize);

    for (f, (frame, instances)) in images.frames.iter().zip(&masks.frames).enumerate() {
        summary.intensity_ranges.push(intensity_range(frame));
        let gray = resize_image(&to_u8(frame), width, height, new_w, new_h);
        let instances = resize_nearest(instances, width, height, new_w, new_h);
        let classes = instances_to_classes(&instances, new_w, new_h, options.boundary);
        foreground += classes.iter().filter(|&&c| c != BACKGROUND).count();
        boundary += classes.iter().filter(|&&c| c == BOUNDARY).count();

        let is_valid = summary.valid_frames.contains(&f);
        let split = options
            .output
            .join(if is_valid { "valid" } else { "train" });
        for &y in &ys {
            for &x in &xs {
                let name = format!("f{f:02}_y{y:04}_x{x:04}.png");
                let crop = |src: &[u8]| -> Vec<u8> {
                    (y..y + options.tile)
                        .flat_map(|row| &src[row * new_w + x..][..options.tile])
                        .copied()
                        .collect()
                };
                let side = (options.tile, options.tile);
                write_png(&split.join("images").join(&name), &crop(&gray), side)?;
                write_png(&split.join("masks").join(&name), &crop(&classes), side)?;
            }
        }
        if is_valid {
            summary.valid_tiles += ys.len() * xs.len();
            let whole = options.output.join("valid-frames");
            let name = format!("f{f:02}.png");
            write_png(&whole.join("images").join(&name), &gray, (new_w, new_h))?;
            write_png(&whole.join("masks").join(&name), &classes, (new_w, new_h))?;
            summary
                .valid_instance_counts
                .push(count_instances(&instances));
            summary
                .valid_class_components
                .push(count_components(&classes, new_w, new_h, NUCLEUS));
        } else {
            summary.train_tiles += ys.len() * xs.len();
        }
    }
    let total = (n_frames * new_w * new_h) as f64;
    summary.foreground_fraction = foreground as f64 / total;
    summary.boundary_fraction = boundary as f64 / total;

    let json_path = options.output.join("summary.json");
    fs::write(&json_path, summary_json(options, &summary))
        .map_err(io_error(&json_path, "write"))?;
    Ok(summary)
}

/// Creates `output` if missing; if it exists, checks that it holds only entries [`prepare`]
/// writes and removes those, so a rerun with other options leaves no stale tiles.
fn prepare_output_folder(output: &Path) -> Result<(), NucleiError> {
    if !output.exists() {
        return fs::create_dir_all(output).map_err(io_error(output, "create folder"));
    }
    let entries = fs::read_dir(output).map_err(io_error(output, "read folder"))?;
    let mut own = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error(output, "read folder"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !OUTPUT_ENTRIES.contains(&name.as_str()) {
            return Err(NucleiError::OutputNotEmpty {
                path: output.to_path_buf(),
                entry: name,
            });
        }
        own.push(entry.path());
    }
    for path in own {
        if path.is_dir() {
            fs::remove_dir_all(&path).map_err(io_error(&path, "remove folder"))?;
        } else {
            fs::remove_file(&path).map_err(io_error(&path, "remove"))?;
        }
    }
    Ok(())
}

fn write_png(
    path: &Path,
    pixels: &[u8],
    (width, height): (usize, usize),
) -> Result<(), NucleiError> {
    image::save_buffer(
        path,
        pixels,
        width as u32,
        height as u32,
        image::ExtendedColorType::L8,
    )
    .map_err(|e| NucleiError::Png {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}
