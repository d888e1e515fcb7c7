//! [`DataError`]: why loading a data folder failed.

use std::fmt;
use std::path::PathBuf;

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
