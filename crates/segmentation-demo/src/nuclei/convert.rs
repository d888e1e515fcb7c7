//! Per-frame conversion: 8-bit intensities, resizing, instance masks to classes, tiles and the
//! frame split.

use std::collections::HashSet;

use image::imageops::FilterType;

use super::{BACKGROUND, BOUNDARY, HIGH_PERCENTILE, LOW_PERCENTILE, NUCLEUS};

/// The gray levels [`to_u8`] maps to 0 and 255: the frame's [`LOW_PERCENTILE`] and
/// [`HIGH_PERCENTILE`] (nearest rank). `(0, 0)` for an empty frame.
pub fn intensity_range(frame: &[u32]) -> (u32, u32) {
    if frame.is_empty() {
        return (0, 0);
    }
    let mut values = frame.to_vec();
    let rank = |p: f64| ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    let (lo_rank, hi_rank) = (rank(LOW_PERCENTILE), rank(HIGH_PERCENTILE));
    let hi = *values.select_nth_unstable(hi_rank).1;
    // After the selection every value left of `hi_rank` is <= hi, so the low rank lies there.
    let lo = *values[..=hi_rank].select_nth_unstable(lo_rank).1;
    (lo, hi)
}

/// Scales a frame to 8 bits: its [`intensity_range`] `(lo, hi)` maps linearly to 0..=255
/// (`255 · (v − lo) / (hi − lo)`, rounded, clamped). A frame with `hi <= lo` (e.g. constant)
/// becomes all 0.
pub fn to_u8(frame: &[u32]) -> Vec<u8> {
    let (lo, hi) = intensity_range(frame);
    if hi <= lo {
        return vec![0; frame.len()];
    }
    let range = f64::from(hi - lo);
    frame
        .iter()
        .map(|&v| {
            (f64::from(v.saturating_sub(lo)) * 255.0 / range)
                .round()
                .min(255.0) as u8
        })
        .collect()
}

/// The output size for `scale`: `round(width · scale)` × `round(height · scale)`, at least 1.
pub fn scaled_size(width: usize, height: usize, scale: f32) -> (usize, usize) {
    let f = |n: usize| ((n as f64) * f64::from(scale)).round().max(1.0) as usize;
    (f(width), f(height))
}

/// Resizes an 8-bit image with a triangle filter (widened when shrinking, so it averages the
/// source pixels under each output pixel). Panics if `src.len() != width · height`.
pub fn resize_image(
    src: &[u8],
    width: usize,
    height: usize,
    new_width: usize,
    new_height: usize,
) -> Vec<u8> {
    assert_eq!(src.len(), width * height, "image buffer size");
    if (width, height) == (new_width, new_height) {
        return src.to_vec();
    }
    let img = image::GrayImage::from_raw(width as u32, height as u32, src.to_vec())
        .expect("buffer length checked above");
    image::imageops::resize(
        &img,
        new_width as u32,
        new_height as u32,
        FilterType::Triangle,
    )
    .into_raw()
}

/// Resizes a label image with nearest neighbour: output pixel `(x, y)` takes the source pixel
/// under its centre, `(⌊(x + ½) · width / new_width⌋, ⌊(y + ½) · height / new_height⌋)`. Ids are
/// copied, never blended. Panics if `src.len() != width · height`.
pub fn resize_nearest(
    src: &[u32],
    width: usize,
    height: usize,
    new_width: usize,
    new_height: usize,
) -> Vec<u32> {
    assert_eq!(src.len(), width * height, "label buffer size");
    if (width, height) == (new_width, new_height) {
        return src.to_vec();
    }
    let source = |i: usize, n: usize, new_n: usize| (((2 * i + 1) * n) / (2 * new_n)).min(n - 1);
    let xs: Vec<usize> = (0..new_width)
        .map(|x| source(x, width, new_width))
        .collect();
    let mut out = Vec::with_capacity(new_width * new_height);
    for y in 0..new_height {
        let row = &src[source(y, height, new_height) * width..][..width];
        out.extend(xs.iter().map(|&x| row[x]));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Labels.
// ---------------------------------------------------------------------------------------------

/// Turns an instance mask (0 = background, other values = nucleus ids) into classes:
/// [`BACKGROUND`], [`NUCLEUS`], and with `boundary` [`BOUNDARY`] for a nucleus pixel whose
/// 3 × 3 neighbourhood holds a pixel of another nucleus (so a contact becomes two pixels wide,
/// one on each side). Edges against the background stay [`NUCLEUS`]. Panics if
/// `instances.len() != width · height`.
pub fn instances_to_classes(
    instances: &[u32],
    width: usize,
    height: usize,
    boundary: bool,
) -> Vec<u8> {
    assert_eq!(instances.len(), width * height, "instance buffer size");
    let mut classes: Vec<u8> = instances
        .iter()
        .map(|&id| if id == 0 { BACKGROUND } else { NUCLEUS })
        .collect();
    if !boundary {
        return classes;
    }
    for y in 0..height {
        let rows = y.saturating_sub(1)..=(y + 1).min(height - 1);
        for x in 0..width {
            let id = instances[y * width + x];
            if id == 0 {
                continue;
            }
            let cols = x.saturating_sub(1)..=(x + 1).min(width - 1);
            let touches_other = rows.clone().any(|ny| {
                cols.clone().any(|nx| {
                    let other = instances[ny * width + nx];
                    other != 0 && other != id
                })
            });
            if touches_other {
                classes[y * width + x] = BOUNDARY;
            }
        }
    }
    classes
}

/// The number of distinct non-zero ids of an instance mask.
pub fn count_instances(instances: &[u32]) -> usize {
    instances
        .iter()
        .filter(|&&id| id != 0)
        .collect::<HashSet<_>>()
        .len()
}

// ---------------------------------------------------------------------------------------------
// Tiling and splitting.
// ---------------------------------------------------------------------------------------------

/// Tile origins along an axis of `len` pixels: 0, tile, 2·tile, … while a whole tile fits, plus
/// `len − tile` if the last of those does not end at `len` (that tile overlaps its neighbour).
/// Empty when `tile` is 0 or larger than `len`. Example: `len` 10, `tile` 4 → `[0, 4, 6]`.
pub fn tile_origins(len: usize, tile: usize) -> Vec<usize> {
    if tile == 0 || tile > len {
        return Vec::new();
    }
    let mut origins: Vec<usize> = (0..=(len - tile)).step_by(tile).collect();
    if origins.last() != Some(&(len - tile)) {
        origins.push(len - tile);
    }
    origins
}

/// Splits frames `0..n_frames` into (training, validation): the last `valid_frames` frames
/// (all of them if `valid_frames >= n_frames`) are validation, as one contiguous block in time.
pub fn split_frames(n_frames: usize, valid_frames: usize) -> (Vec<usize>, Vec<usize>) {
    let first_valid = n_frames - valid_frames.min(n_frames);
    (
        (0..first_valid).collect(),
        (first_valid..n_frames).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_u8_uses_per_frame_percentiles() {
        // 0..=999: ranks round(0.005 · 999) = 5 and round(0.998 · 999) = 997.
        let frame: Vec<u32> = (0..1000).collect();
        assert_eq!(intensity_range(&frame), (5, 997));
        let out = to_u8(&frame);
        assert_eq!(out[0], 0);
        assert_eq!(out[5], 0);
        assert_eq!(out[997], 255);
        assert_eq!(out[999], 255);
        // 5 + 992 / 4 = 253 → 63.75 → 64.
        assert_eq!(out[253], 64);
        assert!(out.windows(2).all(|w| w[0] <= w[1]));
        // The scaling is per frame: an offset frame maps the same way.
        let shifted: Vec<u32> = frame.iter().map(|v| v + 40_000).collect();
        assert_eq!(to_u8(&shifted), out);
    }

    #[test]
    fn to_u8_of_a_constant_or_empty_frame_is_zero() {
        assert_eq!(to_u8(&[7; 50]), vec![0; 50]);
        assert_eq!(to_u8(&[]), Vec::<u8>::new());
        // Two levels, the bright one above the high percentile rank: still well defined.
        let mut two = vec![10u32; 100];
        two[99] = 20;
        assert_eq!(intensity_range(&two), (10, 20));
        assert_eq!(to_u8(&two)[99], 255);
        assert_eq!(to_u8(&two)[0], 0);
    }

    #[test]
    fn resizing_keeps_ids_and_averages_intensities() {
        // 4 × 2 labels → 2 × 1 takes the pixel under each output centre: (1, 1) and (3, 1).
        let labels = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(resize_nearest(&labels, 4, 2, 2, 1), vec![6, 8]);
        assert_eq!(resize_nearest(&labels, 4, 2, 4, 2), labels.to_vec());
        // Upscaling repeats pixels.
        assert_eq!(resize_nearest(&[1, 2], 2, 1, 4, 1), vec![1, 1, 2, 2]);
        // A uniform image stays uniform; a 0/200 checkerboard halves to ~100.
        assert_eq!(resize_image(&[50; 16], 4, 4, 2, 2), vec![50; 4]);
        let checker: Vec<u8> = (0..16)
            .map(|i| if (i % 4 + i / 4) % 2 == 0 { 0 } else { 200 })
            .collect();
        for v in resize_image(&checker, 4, 4, 2, 2) {
            assert!((90..=110).contains(&v), "{v}");
        }
        assert_eq!(scaled_size(1100, 700, 0.5), (550, 350));
        assert_eq!(scaled_size(3, 3, 0.1), (1, 1));
    }

    #[test]
    fn instances_to_classes_without_and_with_boundary() {
        // Ids 1 and 2 touch along a vertical edge; 3 is separate.
        #[rustfmt::skip]
        let instances = [
            1, 1, 2, 2, 0, 3,
            1, 1, 2, 2, 0, 3,
            0, 0, 0, 0, 0, 0,
        ];
        #[rustfmt::skip]
        let plain = vec![
            1, 1, 1, 1, 0, 1,
            1, 1, 1, 1, 0, 1,
            0, 0, 0, 0, 0, 0,
        ];
        #[rustfmt::skip]
        let with_boundary = vec![
            1, 2, 2, 1, 0, 1,
            1, 2, 2, 1, 0, 1,
            0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(instances_to_classes(&instances, 6, 3, false), plain);
        assert_eq!(instances_to_classes(&instances, 6, 3, true), with_boundary);

        // Diagonal contact counts too (3 × 3 neighbourhood).
        #[rustfmt::skip]
        let diagonal = [
            1, 0, 0,
            0, 2, 0,
            0, 0, 0,
        ];
        #[rustfmt::skip]
        let expected = vec![
            2, 0, 0,
            0, 2, 0,
            0, 0, 0,
        ];
        assert_eq!(instances_to_classes(&diagonal, 3, 3, true), expected);
        assert_eq!(count_instances(&instances), 3);
        assert_eq!(count_instances(&[0, 0]), 0);
    }

    #[test]
    fn tile_origins_cover_the_axis() {
        assert_eq!(tile_origins(10, 4), vec![0, 4, 6]);
        assert_eq!(tile_origins(8, 4), vec![0, 4]);
        assert_eq!(tile_origins(4, 4), vec![0]);
        assert_eq!(tile_origins(5, 4), vec![0, 1]);
        assert_eq!(tile_origins(3, 4), Vec::<usize>::new());
        assert_eq!(tile_origins(10, 0), Vec::<usize>::new());
        assert_eq!(tile_origins(350, 64), vec![0, 64, 128, 192, 256, 286]);
        assert_eq!(
            tile_origins(550, 64),
            vec![0, 64, 128, 192, 256, 320, 384, 448, 486]
        );
    }

    #[test]
    fn split_frames_holds_out_the_last_block() {
        assert_eq!(
            split_frames(20, 4),
            ((0..16).collect::<Vec<_>>(), vec![16, 17, 18, 19])
        );
        assert_eq!(split_frames(3, 1), (vec![0, 1], vec![2]));
        assert_eq!(split_frames(3, 0), (vec![0, 1, 2], vec![]));
        assert_eq!(split_frames(2, 5), (vec![], vec![0, 1]));
    }
}
