//! Data: a deterministic synthetic shapes set ([`synthetic`]), a loader for image/mask folders
//! ([`folder`]), and the [`Batcher`](burn::data::dataloader::batcher::Batcher) turning samples
//! into tensors ([`batch`]).
//!
//! Every sample is stored at the training resolution as an 8-bit RGB image (channel-major,
//! `3 × H × W`, as a PNG holds it: a quarter of the memory of `f32`) and a mask of class
//! indices (`H × W`, [`IGNORE_INDEX`] marks excluded pixels). The batcher normalises to
//! `[-1, 1]`.

pub mod batch;
mod error;
pub mod folder;
pub mod synthetic;

pub use batch::{SegBatch, SegBatcher, images_to_tensor};
pub use error::DataError;
pub use folder::{
    LoadProgress, infer_num_classes, is_presplit, list_images, list_pairs, load_folder,
    load_folder_with_progress, load_pair, load_pairs, open_image, progress_lines, rgb_planes,
};
pub use synthetic::{Rng, SyntheticConfig, synthetic_sample};

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
    /// 8-bit RGB, channel-major: `image[c * size * size + y * size + x]`.
    pub image: Vec<u8>,
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
