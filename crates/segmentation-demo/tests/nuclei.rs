//! The nuclei conversion end to end on small TIFFs written here: reading stacks, tiles split by
//! frame, the summary, and the errors; plus counting nuclei through the boundary class.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use segmentation_demo::nuclei::*;
use tiff::decoder::Decoder;
use tiff::encoder::{Compression, DeflateLevel, TiffEncoder, colortype};

/// A fresh, empty folder under the system temp dir, unique to this process and test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nuclei-test-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a Deflate-compressed multi-page 16-bit TIFF.
fn write_tiff_u16(path: &Path, width: usize, height: usize, frames: &[Vec<u16>]) {
    let file = File::create(path).unwrap();
    let mut encoder = TiffEncoder::new(file)
        .unwrap()
        .with_compression(Compression::Deflate(DeflateLevel::Balanced));
    for frame in frames {
        encoder
            .write_image::<colortype::Gray16>(width as u32, height as u32, frame)
            .unwrap();
    }
}

/// A `width × height` instance frame: two touching squares (ids 1 and 2) and a separate one
/// (id 3 + `frame`, so ids change between frames like a tracking mask's might).
fn instance_frame(width: usize, height: usize, frame: u16) -> Vec<u16> {
    let mut m = vec![0u16; width * height];
    let mut fill = |x0: usize, y0: usize, side: usize, id: u16| {
        for y in y0..y0 + side {
            for x in x0..x0 + side {
                m[y * width + x] = id;
            }
        }
    };
    fill(4, 4, 6, 1);
    fill(10, 4, 6, 2);
    fill(24, 12, 8, 3 + frame);
    m
}

/// The matching image: background 100 with a gradient, nuclei around 2000.
fn image_frame(mask: &[u16], width: usize) -> Vec<u16> {
    mask.iter()
        .enumerate()
        .map(|(i, &id)| {
            let base = 100 + (i % width) as u16;
            if id == 0 { base } else { base + 2000 }
        })
        .collect()
}

fn write_pair(dir: &Path, width: usize, height: usize, n: usize) -> (PathBuf, PathBuf) {
    let masks: Vec<Vec<u16>> = (0..n)
        .map(|f| instance_frame(width, height, f as u16))
        .collect();
    let images: Vec<Vec<u16>> = masks.iter().map(|m| image_frame(m, width)).collect();
    let (img, msk) = (dir.join("img.tif"), dir.join("mask.tif"));
    write_tiff_u16(&img, width, height, &images);
    write_tiff_u16(&msk, width, height, &masks);
    (img, msk)
}

fn sorted_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn read_gray(path: &Path) -> image::GrayImage {
    image::open(path).unwrap().to_luma8()
}

#[test]
fn read_stack_round_trips_a_deflate_u16_tiff() {
    let dir = temp_dir("roundtrip");
    let frames: Vec<Vec<u16>> = (0..3).map(|f| instance_frame(40, 24, f)).collect();
    let path = dir.join("stack.tif");
    write_tiff_u16(&path, 40, 24, &frames);
    // The file really is Deflate-compressed (TIFF compression 8, as in the HeLa files).
    let mut decoder = Decoder::new(File::open(&path).unwrap()).unwrap();
    let compression = decoder.get_tag_u32(tiff::tags::Tag::Compression).unwrap();
    assert_eq!(compression, 8);
    let stack = read_stack(&path).unwrap();
    assert_eq!((stack.width, stack.height, stack.len()), (40, 24, 3));
    assert_eq!(stack.bits_per_sample, 16);
    for (read, written) in stack.frames.iter().zip(&frames) {
        let written: Vec<u32> = written.iter().map(|&v| u32::from(v)).collect();
        assert_eq!(read, &written);
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn read_stack_reads_u8_and_rejects_bad_files() {
    let dir = temp_dir("bad-files");
    // 8-bit, uncompressed.
    let path = dir.join("u8.tif");
    let mut enc = TiffEncoder::new(File::create(&path).unwrap()).unwrap();
    enc.write_image::<colortype::Gray8>(3, 2, &[0, 1, 2, 3, 4, 255])
        .unwrap();
    drop(enc);
    let stack = read_stack(&path).unwrap();
    assert_eq!(stack.frames, vec![vec![0, 1, 2, 3, 4, 255]]);
    assert_eq!(stack.bits_per_sample, 8);

    // RGB is not grayscale.
    let path = dir.join("rgb.tif");
    let mut enc = TiffEncoder::new(File::create(&path).unwrap()).unwrap();
    enc.write_image::<colortype::RGB8>(2, 1, &[1, 2, 3, 4, 5, 6])
        .unwrap();
    drop(enc);
    let err = read_stack(&path).unwrap_err();
    assert!(
        matches!(err, NucleiError::NotGrayscale { page: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("rgb.tif"), "{err}");

    // Pages of different sizes.
    let path = dir.join("sizes.tif");
    let mut enc = TiffEncoder::new(File::create(&path).unwrap()).unwrap();
    enc.write_image::<colortype::Gray16>(2, 2, &[1, 2, 3, 4])
        .unwrap();
    enc.write_image::<colortype::Gray16>(3, 1, &[1, 2, 3])
        .unwrap();
    drop(enc);
    let err = read_stack(&path).unwrap_err();
    match &err {
        NucleiError::PageSizeMismatch {
            page,
            expected,
            found,
            ..
        } => assert_eq!((*page, *expected, *found), (1, (2, 2), (3, 1))),
        other => panic!("unexpected error {other}"),
    }
    assert!(
        err.to_string().contains("page 1 is 3x1 but page 0 is 2x2"),
        "{err}"
    );

    // Negative labels.
    let path = dir.join("signed.tif");
    let mut enc = TiffEncoder::new(File::create(&path).unwrap()).unwrap();
    enc.write_image::<colortype::GrayI32>(2, 1, &[5, -1])
        .unwrap();
    drop(enc);
    let err = read_stack(&path).unwrap_err();
    assert!(
        matches!(err, NucleiError::UnsupportedSamples { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("-1"), "{err}");

    // Missing file, and not a TIFF.
    let err = read_stack(dir.join("missing.tif")).unwrap_err();
    assert!(matches!(err, NucleiError::Io { .. }), "{err}");
    let path = dir.join("text.tif");
    fs::write(&path, b"not a tiff").unwrap();
    let err = read_stack(&path).unwrap_err();
    assert!(matches!(err, NucleiError::Tiff { .. }), "{err}");
    assert!(err.to_string().contains("text.tif"), "{err}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn prepare_writes_tiles_split_by_frame() {
    let dir = temp_dir("prepare");
    let (img, msk) = write_pair(&dir, 40, 24, 3);
    let out = dir.join("out");
    let options = PrepareOptions {
        tile: 16,
        scale: 1.0,
        valid_frames: 1,
        ..PrepareOptions::new(&img, &msk, &out)
    };
    let summary = prepare(&options).unwrap();
    // x origins [0, 16, 24], y origins [0, 8]: 6 tiles per frame.
    assert_eq!(summary.tiles_per_frame, 6);
    assert_eq!((summary.train_tiles, summary.valid_tiles), (12, 6));
    assert_eq!(summary.train_frames, vec![0, 1]);
    assert_eq!(summary.valid_frames, vec![2]);
    assert_eq!(summary.valid_instance_counts, vec![3]);
    assert_eq!(summary.valid_class_components, vec![2]);
    assert_eq!(summary.num_classes, 2);
    assert_eq!(summary.frame_size, (40, 24));
    let fg = (36 + 36 + 64) as f64 / (40 * 24) as f64;
    assert!((summary.foreground_fraction - fg).abs() < 1e-12);
    assert_eq!(summary.boundary_fraction, 0.0);

    let train = sorted_names(&out.join("train/images"));
    assert_eq!(train.len(), 12);
    assert_eq!(train[0], "f00_y0000_x0000.png");
    assert!(train.contains(&"f01_y0008_x0024.png".to_string()));
    assert!(train.iter().all(|n| !n.starts_with("f02")), "{train:?}");
    assert_eq!(sorted_names(&out.join("train/masks")), train);
    let valid = sorted_names(&out.join("valid/images"));
    assert_eq!(valid.len(), 6);
    assert!(valid.iter().all(|n| n.starts_with("f02_")), "{valid:?}");
    assert_eq!(sorted_names(&out.join("valid/masks")), valid);
    assert_eq!(sorted_names(&out.join("valid-frames/images")), ["f02.png"]);
    assert_eq!(sorted_names(&out.join("valid-frames/masks")), ["f02.png"]);
    let summary_json = fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(
        summary_json.contains("\"valid_instance_counts\": [3]"),
        "{summary_json}"
    );
    assert!(summary.to_string().contains("12 tiles"), "{summary}");

    // Tile contents: the mask tile at (0, 0) holds nucleus 1 at x, y in 4..10.
    let mask = read_gray(&out.join("train/masks/f00_y0000_x0000.png"));
    assert_eq!(mask.dimensions(), (16, 16));
    assert_eq!(mask.get_pixel(5, 5)[0], 1);
    assert_eq!(mask.get_pixel(0, 0)[0], 0);
    let image = read_gray(&out.join("train/images/f00_y0000_x0000.png"));
    assert!(image.get_pixel(5, 5)[0] > 240);
    assert!(image.get_pixel(0, 0)[0] < 10);
    // The last x tile is flush with the right edge: it shows nucleus 3 (x 24..32).
    let mask = read_gray(&out.join("valid/masks/f02_y0008_x0024.png"));
    assert_eq!(mask.get_pixel(0, 4)[0], 1);
    assert_eq!(mask.get_pixel(15, 15)[0], 0);
    let whole = read_gray(&out.join("valid-frames/masks/f02.png"));
    assert_eq!(whole.dimensions(), (40, 24));
    assert_eq!(count_components(whole.as_raw(), 40, 24, NUCLEUS), 2);

    // A rerun with other options replaces the earlier output (no stale tiles).
    let rerun = PrepareOptions {
        tile: 8,
        scale: 0.5,
        boundary: true,
        ..options.clone()
    };
    let summary = prepare(&rerun).unwrap();
    assert_eq!(summary.frame_size, (20, 12));
    // x origins [0, 8, 12], y origins [0, 4]: 6 tiles per frame.
    assert_eq!((summary.train_tiles, summary.valid_tiles), (12, 6));
    assert_eq!(summary.num_classes, 3);
    assert_eq!(summary.valid_instance_counts, vec![3]);
    assert_eq!(summary.valid_class_components, vec![3]);
    assert!(summary.boundary_fraction > 0.0);
    assert_eq!(sorted_names(&out.join("train/images")).len(), 12);
    let whole = read_gray(&out.join("valid-frames/masks/f02.png"));
    assert_eq!(whole.dimensions(), (20, 12));
    assert!(whole.pixels().all(|p| p[0] <= 2));
    assert!(whole.pixels().any(|p| p[0] == 2));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn prepare_rejects_bad_options_and_foreign_output() {
    let dir = temp_dir("reject");
    let (img, msk) = write_pair(&dir, 40, 24, 3);
    let base = PrepareOptions {
        tile: 16,
        scale: 1.0,
        valid_frames: 1,
        ..PrepareOptions::new(&img, &msk, dir.join("out"))
    };
    let check = |options: PrepareOptions, name: &str| {
        let err = prepare(&options).unwrap_err();
        assert!(
            matches!(&err, NucleiError::BadOption { name: n, .. } if *n == name),
            "{err}"
        );
    };
    check(
        PrepareOptions {
            valid_frames: 3,
            ..base.clone()
        },
        "valid_frames",
    );
    check(
        PrepareOptions {
            valid_frames: 0,
            ..base.clone()
        },
        "valid_frames",
    );
    check(
        PrepareOptions {
            scale: 0.0,
            ..base.clone()
        },
        "scale",
    );
    check(
        PrepareOptions {
            tile: 25,
            ..base.clone()
        },
        "tile",
    );

    // Image and mask stacks of different lengths.
    let short = dir.join("short.tif");
    write_tiff_u16(&short, 40, 24, &[instance_frame(40, 24, 0)]);
    let err = prepare(&PrepareOptions {
        mask_tiff: short,
        ..base.clone()
    })
    .unwrap_err();
    assert!(matches!(err, NucleiError::StackMismatch { .. }), "{err}");

    // An output folder holding something else is left alone.
    let foreign = dir.join("foreign");
    fs::create_dir_all(&foreign).unwrap();
    fs::write(foreign.join("notes.txt"), "keep me").unwrap();
    let err = prepare(&PrepareOptions {
        output: foreign.clone(),
        ..base
    })
    .unwrap_err();
    assert!(matches!(err, NucleiError::OutputNotEmpty { .. }), "{err}");
    assert!(foreign.join("notes.txt").is_file());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_boundary_class_separates_touching_nuclei() {
    let instances = instance_frame(40, 24, 0);
    let instances: Vec<u32> = instances.into_iter().map(u32::from).collect();
    let plain = instances_to_classes(&instances, 40, 24, false);
    let bounded = instances_to_classes(&instances, 40, 24, true);
    assert_eq!(count_components(&plain, 40, 24, NUCLEUS), 2);
    assert_eq!(count_components(&bounded, 40, 24, NUCLEUS), 3);
}
