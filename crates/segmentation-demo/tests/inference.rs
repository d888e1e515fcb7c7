//! Prediction at an image's own size, mask formats, and folder evaluation, with an untrained
//! network (its predictions are arbitrary but deterministic, which is all these tests need).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use image::{GrayImage, Luma, Rgb, RgbImage};
use segmentation_demo::backend::InferenceBackend as B;
use segmentation_demo::inference::{ClassMap, InputSize, evaluate_folder, predict_image};
use segmentation_demo::model::{UNet, UNetConfig};
use segmentation_demo::visual::{MaskFormat, class_colour, save_mask};

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seg-demo-infer-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn model() -> UNet<B> {
    let device = Default::default();
    B::seed(&device, 3);
    UNetConfig::new(3).with_base_width(4).init::<B>(&device)
}

/// A deterministic textured image, so that the network's prediction varies across it.
fn textured(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 37 + y * 11) as u8,
            (x * y * 7) as u8,
            (255u32.wrapping_sub(x * 13)) as u8,
        ])
    })
}

fn write(image: &RgbImage, path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image.save(path).unwrap();
}

#[test]
fn native_size_pads_with_the_edge_and_crops_back() {
    let dir = fresh_dir("native");
    let device = Default::default();
    let model = model();
    let small = textured(13, 21);
    // The same image with its last column and row repeated up to 16 × 24.
    let padded = RgbImage::from_fn(16, 24, |x, y| *small.get_pixel(x.min(12), y.min(20)));
    write(&small, &dir.join("small.png"));
    write(&padded, &dir.join("padded.png"));
    let a = predict_image(&model, &dir.join("small.png"), InputSize::Native, &device).unwrap();
    let b = predict_image(&model, &dir.join("padded.png"), InputSize::Native, &device).unwrap();
    assert_eq!((a.width, a.height, a.classes.len()), (13, 21, 13 * 21));
    let crop: Vec<u8> = (0..21)
        .flat_map(|y| b.classes[y * 16..y * 16 + 13].to_vec())
        .collect();
    assert_eq!(a.classes, crop);
    assert!(a.classes.iter().all(|&c| c < 3));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn training_size_prediction_is_scaled_back_to_the_image() {
    let dir = fresh_dir("training");
    let device = Default::default();
    let model = model();
    write(&textured(40, 24), &dir.join("wide.png"));
    let map = predict_image(
        &model,
        &dir.join("wide.png"),
        InputSize::Training(16),
        &device,
    )
    .unwrap();
    assert_eq!(
        (map.width, map.height, map.classes.len()),
        (40, 24, 40 * 24)
    );
    // Nearest-neighbour upsampling: each pixel takes the class of one 16 × 16 cell, so no more
    // distinct values than there are classes, and 2.5 × 1.5 pixel blocks repeat.
    assert!(map.classes.iter().all(|&c| c < 3));
    assert_eq!(map.classes[0], map.classes[1]);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn masks_are_written_as_indices_or_colours() {
    let dir = fresh_dir("formats");
    let map = ClassMap {
        width: 3,
        height: 2,
        classes: vec![0, 1, 2, 2, 1, 0],
    };
    save_mask(&map, &dir.join("sub/index.png"), MaskFormat::Index).unwrap();
    save_mask(&map, &dir.join("colour.png"), MaskFormat::Color).unwrap();
    let index = image::open(dir.join("sub/index.png")).unwrap().to_luma8();
    assert_eq!(index.into_raw(), map.classes);
    let colour = image::open(dir.join("colour.png")).unwrap().to_rgb8();
    for (k, p) in colour.pixels().enumerate() {
        assert_eq!(p.0, class_colour(map.classes[k]));
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn folder_evaluation_counts_every_labelled_pixel_at_the_mask_size() {
    let dir = fresh_dir("eval");
    let device = Default::default();
    let model = model();
    let mut expected_pixels = 0;
    for (k, (w, h)) in [(16u32, 16u32), (24, 8)].into_iter().enumerate() {
        let image = dir.join(format!("images/i{k}.png"));
        write(&textured(w, h), &image);
        // The mask is the network's own prediction with one pixel marked 255: a perfect score
        // on every class it predicts, over all pixels but the ignored one.
        let map = predict_image(&model, &image, InputSize::Native, &device).unwrap();
        let mut mask = GrayImage::from_raw(w, h, map.classes).unwrap();
        mask.put_pixel(0, 0, Luma([255]));
        std::fs::create_dir_all(dir.join("masks")).unwrap();
        mask.save(dir.join(format!("masks/i{k}.png"))).unwrap();
        expected_pixels += (w * h - 1) as u64;
    }
    let result = evaluate_folder(
        &model,
        &dir,
        InputSize::Native,
        Some(1),
        &device,
        &|_, _| {},
    )
    .unwrap();
    assert_eq!(result.images, 2);
    assert_eq!(result.confusion.counts.iter().sum::<u64>(), expected_pixels);
    assert_eq!(result.confusion.pixel_accuracy(), 1.0);
    assert!(result.confusion.iou().iter().flatten().all(|&v| v == 1.0));
    // Objects of class 1: the masks are the predictions, so the counts agree image by image.
    assert_eq!(result.objects.len(), 2);
    assert!(
        result.objects.iter().all(|o| o.predicted == o.truth),
        "{:?}",
        result.objects
    );

    // A mask of another size is an error naming it and both sizes.
    GrayImage::new(5, 5).save(dir.join("masks/i1.png")).unwrap();
    let err = evaluate_folder(
        &model,
        &dir,
        InputSize::Native,
        Some(1),
        &device,
        &|_, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("i1.png") && err.contains("5x5") && err.contains("24x8"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}
