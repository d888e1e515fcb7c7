//! The image/mask folder loader: a valid folder loads, and each kind of bad input gives an
//! error naming the path and the values.

use std::path::{Path, PathBuf};

use image::{GrayImage, Luma, Rgb, RgbImage};
use segmentation_demo::data::{DataError, infer_num_classes, list_pairs, load_folder, load_pairs};

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seg-demo-data-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("images")).unwrap();
    std::fs::create_dir_all(dir.join("masks")).unwrap();
    dir
}

fn write_pair(dir: &Path, name: &str, size: (u32, u32), mask_size: (u32, u32), value: u8) {
    RgbImage::from_pixel(size.0, size.1, Rgb([10, 200, 30]))
        .save(dir.join("images").join(format!("{name}.png")))
        .unwrap();
    let mut mask = GrayImage::from_pixel(mask_size.0, mask_size.1, Luma([1]));
    mask.put_pixel(0, 0, Luma([value]));
    mask.save(dir.join("masks").join(format!("{name}.png")))
        .unwrap();
}

#[test]
fn loads_resizes_and_splits() {
    let dir = fresh_dir("ok");
    for k in 0..5 {
        write_pair(&dir, &format!("img{k}"), (20, 12), (20, 12), 255);
    }
    let data = load_folder(&dir, 16, 3, 0.2, 1).unwrap();
    assert_eq!((data.train.len(), data.valid.len()), (4, 1));
    let s = &data.train[0];
    assert_eq!((s.size, s.image.len(), s.mask.len()), (16, 3 * 256, 256));
    assert!(s.mask.iter().all(|&m| m == 1 || m == 255));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn class_count_is_inferred_from_the_masks() {
    let dir = fresh_dir("infer");
    write_pair(&dir, "a", (4, 4), (4, 4), 255); // values 1 and 255
    write_pair(&dir, "b", (4, 4), (4, 4), 3); // values 1 and 3
    assert_eq!(infer_num_classes(&dir).unwrap(), 4);
    std::fs::remove_dir_all(&dir).ok();
    let empty = fresh_dir("infer-none");
    GrayImage::from_pixel(2, 2, Luma([255]))
        .save(empty.join("masks").join("x.png"))
        .unwrap();
    let err = infer_num_classes(&empty).unwrap_err().to_string();
    assert!(err.contains("no mask has a labelled pixel"), "{err}");
    std::fs::remove_dir_all(empty).ok();
}

#[test]
fn missing_folder() {
    let dir = std::env::temp_dir().join("seg-demo-surely-missing-folder");
    let err = load_folder(&dir, 16, 3, 0.2, 1).unwrap_err();
    assert!(matches!(err, DataError::MissingFolder(_)));
    assert!(
        err.to_string().contains("seg-demo-surely-missing-folder"),
        "{err}"
    );
}

#[test]
fn mask_size_mismatch() {
    let dir = fresh_dir("size");
    write_pair(&dir, "a", (20, 12), (10, 12), 1);
    let err = load_folder(&dir, 16, 3, 0.2, 1).unwrap_err().to_string();
    assert!(
        err.contains("a.png") && err.contains("10x12") && err.contains("20x12"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn class_index_out_of_range() {
    let dir = fresh_dir("class");
    write_pair(&dir, "b", (8, 8), (8, 8), 7);
    let err = load_folder(&dir, 8, 3, 0.2, 1).unwrap_err().to_string();
    assert!(
        err.contains("b.png") && err.contains("class index 7") && err.contains("3"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn unreadable_image_and_missing_mask() {
    let dir = fresh_dir("broken");
    std::fs::write(dir.join("images/c.png"), b"not a png").unwrap();
    std::fs::write(dir.join("masks/c.png"), b"not a png").unwrap();
    let err = load_folder(&dir, 8, 3, 0.2, 1).unwrap_err().to_string();
    assert!(
        err.contains("cannot read image") && err.contains("c.png"),
        "{err}"
    );

    std::fs::remove_file(dir.join("masks/c.png")).unwrap();
    let err = load_folder(&dir, 8, 3, 0.2, 1).unwrap_err().to_string();
    assert!(
        err.contains("has no mask") && err.contains("masks"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn split_folder_is_used_as_given_and_in_order() {
    let dir = fresh_dir("presplit");
    for (part, names) in [("train", ["t0", "t1", "t2"]), ("valid", ["v0", "v1", "v2"])] {
        let part_dir = dir.join(part);
        std::fs::create_dir_all(part_dir.join("images")).unwrap();
        std::fs::create_dir_all(part_dir.join("masks")).unwrap();
        for (k, name) in names.iter().enumerate() {
            // The mask value tells the images apart: train 0, 1, 2 and valid 3, 4, 5.
            let value = k as u8 + if part == "valid" { 3 } else { 0 };
            write_pair(&part_dir, name, (6, 6), (6, 6), value);
        }
    }
    // valid_fraction does not apply to a split folder.
    let data = load_folder(&dir, 6, 6, 0.9, 1).unwrap();
    let firsts = |s: &[segmentation_demo::data::SegSample]| -> Vec<u8> {
        s.iter().map(|s| s.mask[0]).collect()
    };
    assert_eq!(firsts(&data.train), [0, 1, 2]);
    assert_eq!(firsts(&data.valid), [3, 4, 5]);
    assert_eq!(infer_num_classes(&dir).unwrap(), 6);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn parallel_loading_keeps_order_reports_progress_and_the_first_error() {
    let dir = fresh_dir("parallel");
    for k in 0..40u8 {
        write_pair(&dir, &format!("p{k:02}"), (5, 5), (5, 5), k);
    }
    let pairs = list_pairs(&dir).unwrap();
    let calls = std::sync::Mutex::new(Vec::new());
    let samples = load_pairs(&pairs, 5, 40, &|done, total| {
        calls.lock().unwrap().push((done, total));
    })
    .unwrap();
    let order: Vec<u8> = samples.iter().map(|s| s.mask[0]).collect();
    assert_eq!(order, (0..40).collect::<Vec<u8>>());
    let mut calls = calls.into_inner().unwrap();
    calls.sort();
    assert_eq!(calls, (1..=40).map(|d| (d, 40)).collect::<Vec<_>>());

    // Two bad masks: the error names the first in order, whichever thread got there first.
    let err = load_pairs(&pairs, 5, 30, &|_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("p30.png") && err.contains("class index 30"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}
