//! Reading multi-page grayscale TIFF stacks.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use tiff::ColorType;
use tiff::decoder::{Decoder, DecodingResult};

use super::NucleiError;
use super::error::io_error;

/// All pages of a grayscale TIFF, each widened to `u32`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stack {
    /// Page width in pixels.
    pub width: usize,
    /// Page height in pixels.
    pub height: usize,
    /// Bits per sample of the first page (8, 16 or 32).
    pub bits_per_sample: u8,
    /// The pages, each `width · height` values in row-major order.
    pub frames: Vec<Vec<u32>>,
}

impl Stack {
    /// Number of pages.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the stack has no pages (never true for a stack from [`read_stack`]).
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// Reads every page of a grayscale TIFF (8-, 16- or 32-bit unsigned samples, or signed ones
/// without negative values; any compression the `tiff` crate decodes with its `deflate` and
/// `lzw` features) into a [`Stack`]. All pages must have the size of the first.
pub fn read_stack(path: impl AsRef<Path>) -> Result<Stack, NucleiError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(io_error(path, "open"))?;
    let tiff_error = |page: usize, e: tiff::TiffError| NucleiError::Tiff {
        path: path.to_path_buf(),
        page,
        reason: e.to_string(),
    };
    let mut decoder = Decoder::new(BufReader::new(file)).map_err(|e| tiff_error(0, e))?;
    let mut frames: Vec<Vec<u32>> = Vec::new();
    let mut first: Option<(usize, usize, u8)> = None;
    loop {
        let page = frames.len();
        let (w, h) = decoder.dimensions().map_err(|e| tiff_error(page, e))?;
        let (w, h) = (w as usize, h as usize);
        let bits = match decoder.colortype().map_err(|e| tiff_error(page, e))? {
            ColorType::Gray(b @ (8 | 16 | 32)) => b,
            other => {
                return Err(NucleiError::NotGrayscale {
                    path: path.to_path_buf(),
                    page,
                    found: format!("{other:?}"),
                });
            }
        };
        match first {
            None => first = Some((w, h, bits)),
            Some((fw, fh, _)) if (fw, fh) != (w, h) => {
                return Err(NucleiError::PageSizeMismatch {
                    path: path.to_path_buf(),
                    page,
                    expected: (fw, fh),
                    found: (w, h),
                });
            }
            Some(_) => {}
        }
        let unsupported = |found: String| NucleiError::UnsupportedSamples {
            path: path.to_path_buf(),
            page,
            found,
        };
        let frame: Vec<u32> = match decoder.read_image().map_err(|e| tiff_error(page, e))? {
            DecodingResult::U8(v) => v.into_iter().map(u32::from).collect(),
            DecodingResult::U16(v) => v.into_iter().map(u32::from).collect(),
            DecodingResult::U32(v) => v,
            DecodingResult::I8(v) => non_negative(v.into_iter().map(i64::from), &unsupported)?,
            DecodingResult::I16(v) => non_negative(v.into_iter().map(i64::from), &unsupported)?,
            DecodingResult::I32(v) => non_negative(v.into_iter().map(i64::from), &unsupported)?,
            DecodingResult::U64(_) | DecodingResult::I64(_) => {
                return Err(unsupported("64-bit integer samples".into()));
            }
            DecodingResult::F16(_) | DecodingResult::F32(_) | DecodingResult::F64(_) => {
                return Err(unsupported("floating-point samples".into()));
            }
        };
        if frame.len() != w * h {
            return Err(unsupported(format!(
                "{} samples for {w}x{h} pixels",
                frame.len()
            )));
        }
        frames.push(frame);
        if !decoder.more_images() {
            break;
        }
        decoder.next_image().map_err(|e| tiff_error(page + 1, e))?;
    }
    let (width, height, bits_per_sample) = first.unwrap_or((0, 0, 0));
    Ok(Stack {
        width,
        height,
        bits_per_sample,
        frames,
    })
}

fn non_negative(
    values: impl Iterator<Item = i64>,
    unsupported: &dyn Fn(String) -> NucleiError,
) -> Result<Vec<u32>, NucleiError> {
    values
        .map(|v| u32::try_from(v).map_err(|_| unsupported(format!("the negative value {v}"))))
        .collect()
}
