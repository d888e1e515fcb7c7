//! How the kernels split `[N, C, S]` work: blocks of up to [`BLOCK`] pixels of one sample, each
//! a parallel task, processed in tiles of up to [`TILE`] pixels; a block sees every class row
//! of its pixels as one contiguous run.

use rayon::prelude::*;

use super::fast_math::larger;

/// Pixels per tile: one row of a tile is a run the compiler vectorises.
pub(crate) const TILE: usize = 64;
/// Pixels per tile of a pass over one class row at a time (an elementwise activation): only
/// that row's run has to stay in L1, so the tile is longer, and the horizontal sums that end
/// each tile's lane sums (~15 % of binary Dice's forward pass at [`TILE`]) are fewer.
pub(crate) const ROW_TILE: usize = 512;
/// Pixels per parallel task.
pub(crate) const BLOCK: usize = 4096;

/// A block of pixels: its sample, its first pixel and its chunks of the outputs.
pub(crate) type Block<'a> = (usize, usize, Vec<&'a mut [f32]>);

/// The blocks of per-pixel outputs (each `[N·S]`): block `k` gets chunk `k` of every output.
pub(crate) fn pixel_blocks<'a>(outputs: Vec<&'a mut [f32]>, spatial: usize) -> Vec<Block<'a>> {
    let mut splits: Vec<_> = outputs
        .into_iter()
        .map(|o| o.chunks_mut(spatial).map(|row| row.chunks_mut(BLOCK)))
        .collect();
    let mut blocks = Vec::new();
    let samples = splits.first().map_or(0, |s| s.len());
    for sample in 0..samples {
        let mut rows: Vec<_> = splits.iter_mut().map(|s| s.next().unwrap()).collect();
        for s0 in (0..spatial).step_by(BLOCK) {
            let chunks = rows.iter_mut().map(|r| r.next().unwrap()).collect();
            blocks.push((sample, s0, chunks));
        }
    }
    blocks
}

/// The blocks of a `[N, C, S]` output: block `k` gets its pixels' run of every class row.
pub(crate) fn class_row_blocks(
    output: &mut [f32],
    classes: usize,
    spatial: usize,
) -> Vec<Block<'_>> {
    let mut blocks = Vec::new();
    for (sample, rows) in output.chunks_mut(classes * spatial).enumerate() {
        let mut per_class: Vec<_> = rows
            .chunks_mut(spatial)
            .map(|r| r.chunks_mut(BLOCK))
            .collect();
        for s0 in (0..spatial).step_by(BLOCK) {
            let runs = per_class.iter_mut().map(|r| r.next().unwrap()).collect();
            blocks.push((sample, s0, runs));
        }
    }
    blocks
}

/// A buffer of `len` zeros for a kernel's output, zeroed by rayon's threads together: `vec!`
/// would zero a reused allocation with one thread's `memset` while the others wait, a
/// visible share of the time on the small workloads.
pub(crate) fn zeros(len: usize) -> Vec<f32> {
    let mut out = Vec::new();
    out.par_extend(rayon::iter::repeat_n(0.0f32, len));
    out
}

/// Pixels per group of lanes: one AVX vector of `f32`.
const LANES: usize = 8;

/// Pixels `j0..j0 + LANES` of `row`, as an array the compiler keeps in one vector.
#[inline(always)]
fn lanes(row: &[f32], j0: usize) -> &[f32; LANES] {
    row[j0..j0 + LANES].try_into().expect("LANES elements")
}

/// `m = max_c x_c` of each pixel of a tile whose class rows `row(c)` are contiguous runs of
/// `len <= TILE` pixels (`−∞` past `len`; a NaN logit is skipped, as by [`larger`]).
///
/// Eight pixels at a time, their maxima kept in one vector across the classes. Written as
/// `m[j] = larger(m[j], x)` over the whole tile for each class, the select of `m[j]`'s own
/// value compiled to masked stores (`vmaskmovps`), which AMD's cores execute slowly.
#[inline(always)]
pub(crate) fn tile_max<'a>(row: impl Fn(usize) -> &'a [f32], c: usize, len: usize) -> [f32; TILE] {
    let mut m = [f32::NEG_INFINITY; TILE];
    let full = len / LANES * LANES;
    for (j0, out) in (0..full).step_by(LANES).zip(m.chunks_exact_mut(LANES)) {
        let mut acc = [f32::NEG_INFINITY; LANES];
        for class in 0..c {
            let x = lanes(row(class), j0);
            for l in 0..LANES {
                acc[l] = larger(acc[l], x[l]);
            }
        }
        out.copy_from_slice(&acc);
    }
    for class in 0..c {
        for (m, &x) in m[full..len].iter_mut().zip(&row(class)[full..]) {
            *m = larger(*m, x);
        }
    }
    m
}

/// The tiles `(start, len)` of a block of `len` pixels.
pub(crate) fn tiles(len: usize) -> impl Iterator<Item = (usize, usize)> {
    tiles_of(len, TILE)
}

/// The tiles `(start, len)` of up to `tile` pixels of a block of `len` pixels.
pub(crate) fn tiles_of(len: usize, tile: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..len)
        .step_by(tile)
        .map(move |t0| (t0, tile.min(len - t0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_every_pixel_once_in_order() {
        let (n, c, s) = (2, 3, BLOCK + 5);
        let mut out: Vec<f32> = vec![0.0; n * c * s];
        for (sample, s0, runs) in class_row_blocks(&mut out, c, s) {
            assert_eq!(runs.len(), c);
            for (class, run) in runs.into_iter().enumerate() {
                for (j, v) in run.iter_mut().enumerate() {
                    *v += (sample * c * s + class * s + s0 + j) as f32;
                }
            }
        }
        assert!(out.iter().enumerate().all(|(i, &v)| v == i as f32));
        let mut a = vec![0.0f32; n * s];
        let mut b = vec![0.0f32; n * s];
        let blocks = pixel_blocks(vec![&mut a, &mut b], s);
        assert_eq!(blocks.len(), 4);
        for (sample, s0, chunks) in blocks {
            for chunk in chunks {
                for (j, v) in chunk.iter_mut().enumerate() {
                    *v = (sample * s + s0 + j) as f32;
                }
            }
        }
        assert!(
            a.iter()
                .chain(&b)
                .enumerate()
                .all(|(i, &v)| v == (i % (n * s)) as f32)
        );
        for len in [0, 1, 16, 17, 100_003] {
            let z = zeros(len);
            assert_eq!(z.len(), len);
            assert!(z.iter().all(|&v| v == 0.0));
        }
        assert_eq!(
            tiles(130).collect::<Vec<_>>(),
            [(0, 64), (64, 64), (128, 2)]
        );
        assert_eq!(
            tiles_of(1030, ROW_TILE).collect::<Vec<_>>(),
            [(0, 512), (512, 512), (1024, 6)]
        );
    }

    #[test]
    fn tile_max_is_each_pixels_class_maximum() {
        // Lengths with and without a tail past the groups of lanes; NaNs skipped.
        let len = TILE - 3;
        let mut x: Vec<f32> = (0..len).map(|j| (j as f32 * 0.7).sin() * 1e4).collect();
        let mut y: Vec<f32> = (0..len).map(|j| (j as f32 * 1.3).cos() * 1e4).collect();
        (x[1], y[len - 2], y[5]) = (f32::NAN, f32::NAN, f32::NEG_INFINITY);
        let rows = [x, y];
        for len in [len, 16, 5, 0] {
            let m = tile_max(|class| &rows[class][..len], 2, len);
            for j in 0..len {
                let expected = match (rows[0][j], rows[1][j]) {
                    (a, b) if a.is_nan() => b,
                    (a, b) if b.is_nan() => a,
                    (a, b) => a.max(b),
                };
                assert_eq!(m[j], expected, "pixel {j} of {len}");
            }
            assert!(m[len..].iter().all(|&v| v == f32::NEG_INFINITY));
        }
    }
}
