//! [`NucleiError`]: why reading or converting the nuclei data failed.

use std::fmt;
use std::path::{Path, PathBuf};

use super::OUTPUT_ENTRIES;

/// Why reading or converting the nuclei data failed. Every variant names the file or option.
#[derive(Debug)]
pub enum NucleiError {
    /// A file or folder could not be opened, read, created or written.
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done ("open", "create folder", …).
        action: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The TIFF decoder rejected a file.
    Tiff {
        /// The file.
        path: PathBuf,
        /// Zero-based page.
        page: usize,
        /// The decoder's message.
        reason: String,
    },
    /// A page is not single-channel grayscale of 8, 16 or 32 bits.
    NotGrayscale {
        /// The file.
        path: PathBuf,
        /// Zero-based page.
        page: usize,
        /// The colour type that was found.
        found: String,
    },
    /// A page holds samples of an unsupported kind (floating point, 64-bit, negative values).
    UnsupportedSamples {
        /// The file.
        path: PathBuf,
        /// Zero-based page.
        page: usize,
        /// What was found.
        found: String,
    },
    /// A page's size differs from the first page's.
    PageSizeMismatch {
        /// The file.
        path: PathBuf,
        /// Zero-based page.
        page: usize,
        /// Width and height of page 0.
        expected: (usize, usize),
        /// Width and height of this page.
        found: (usize, usize),
    },
    /// The image and mask stacks differ in frame count or frame size.
    StackMismatch {
        /// The image file.
        image: PathBuf,
        /// The mask file.
        mask: PathBuf,
        /// Frames, width and height of the image stack.
        image_shape: (usize, usize, usize),
        /// Frames, width and height of the mask stack.
        mask_shape: (usize, usize, usize),
    },
    /// An option is out of range.
    BadOption {
        /// The option's name.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is required.
        reason: String,
    },
    /// The output folder exists and holds entries [`prepare`] did not write.
    OutputNotEmpty {
        /// The folder.
        path: PathBuf,
        /// One foreign entry.
        entry: String,
    },
    /// A PNG could not be written.
    Png {
        /// The file.
        path: PathBuf,
        /// The encoder's message.
        reason: String,
    },
}

impl fmt::Display for NucleiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io {
                path,
                action,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            Self::Tiff { path, page, reason } => {
                write!(
                    f,
                    "cannot decode TIFF {} (page {page}): {reason}",
                    path.display()
                )
            }
            Self::NotGrayscale { path, page, found } => write!(
                f,
                "TIFF {} page {page} is {found}, expected one grayscale sample of 8, 16 or 32 bits",
                path.display()
            ),
            Self::UnsupportedSamples { path, page, found } => write!(
                f,
                "TIFF {} page {page} holds {found}; supported are unsigned 8/16/32-bit samples \
                 and non-negative signed ones",
                path.display()
            ),
            Self::PageSizeMismatch {
                path,
                page,
                expected,
                found,
            } => write!(
                f,
                "TIFF {} page {page} is {}x{} but page 0 is {}x{}",
                path.display(),
                found.0,
                found.1,
                expected.0,
                expected.1
            ),
            Self::StackMismatch {
                image,
                mask,
                image_shape,
                mask_shape,
            } => write!(
                f,
                "image stack {} has {} frames of {}x{} but mask stack {} has {} frames of {}x{}",
                image.display(),
                image_shape.0,
                image_shape.1,
                image_shape.2,
                mask.display(),
                mask_shape.0,
                mask_shape.1,
                mask_shape.2
            ),
            Self::BadOption {
                name,
                value,
                reason,
            } => write!(f, "invalid {name} = {value}: {reason}"),
            Self::OutputNotEmpty { path, entry } => write!(
                f,
                "output folder {} already holds {entry:?}; prepare only replaces its own entries \
                 ({}), so choose an empty or new folder",
                path.display(),
                OUTPUT_ENTRIES.join(", ")
            ),
            Self::Png { path, reason } => {
                write!(f, "cannot write PNG {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for NucleiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub(super) fn io_error(
    path: &Path,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> NucleiError {
    let path = path.to_path_buf();
    move |source| NucleiError::Io {
        path,
        action,
        source,
    }
}
