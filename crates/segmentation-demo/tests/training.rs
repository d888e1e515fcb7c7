//! End-to-end training checks at tiny sizes: every loss choice learns, and resume continues
//! from the last checkpoint.

use std::path::PathBuf;
use std::sync::Mutex;

use segmentation_demo::backend::{InferenceBackend, TrainingBackend};
use segmentation_demo::config::{DataSource, TrainConfig};
use segmentation_demo::loss::{LossKind, LossSpec};
use segmentation_demo::training::{Progress, TrainReport, last_checkpoint, train};

/// The backend of the enabled cargo feature (ndarray by default).
type B = TrainingBackend;

fn output_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seg-demo-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn tiny_config(loss: LossKind, name: &str) -> TrainConfig {
    TrainConfig {
        epochs: 4,
        batch_size: 8,
        learning_rate: 1e-2,
        image_size: 16,
        base_width: 4,
        conv: Default::default(),
        // Lovász takes no class weights.
        loss: LossSpec::new(
            loss,
            5,
            (loss != LossKind::Lovasz).then(|| vec![1.0, 1.0, 1.0, 1.5, 2.0]),
        ),
        data: DataSource::Synthetic {
            num_train: 48,
            num_valid: 16,
        },
        output_dir: output_dir(name),
        seed: 3,
        num_panels: 2,
    }
}

/// Training seeds the backend's global random generator (`B::seed`), so two trainings running
/// at once on the test harness's threads draw each other's numbers and neither is
/// reproducible. One training at a time keeps every run deterministic for its seed.
static ONE_TRAINING_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run(config: &TrainConfig, resume: bool) -> TrainReport<InferenceBackend> {
    let _guard = ONE_TRAINING_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    train::<B>(config, resume, &Default::default(), Progress::Quiet).expect("training runs")
}

fn check_learns(loss: LossKind) {
    let config = tiny_config(loss, loss.name());
    let report = run(&config, false);
    let history = &report.history;
    assert_eq!(
        history.len(),
        config.epochs,
        "{loss}: one metrics.jsonl line per epoch"
    );
    let (first, last) = (&history[0], &history[history.len() - 1]);
    let (l0, l1) = (first.train_loss.unwrap(), last.train_loss.unwrap());
    assert!(l1 < l0, "{loss}: training loss should fall, {l0} -> {l1}");
    assert!(
        last.val_mean_iou > first.val_mean_iou,
        "{loss}: validation mean IoU should rise, {} -> {}",
        first.val_mean_iou,
        last.val_mean_iou
    );
    assert_eq!(last.val_iou.len(), 5);
    assert_eq!(last.val_dice.len(), 5);
    let out = &config.output_dir;
    for file in [
        "config.json",
        "metrics.jsonl",
        "model.mpk",
        "panels/panel-0.png",
    ] {
        assert!(out.join(file).is_file(), "{loss}: {file} is written");
    }
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn cross_entropy_learns() {
    check_learns(LossKind::Ce);
}

#[test]
fn focal_learns() {
    check_learns(LossKind::Focal);
}

#[test]
fn dice_learns() {
    check_learns(LossKind::Dice);
}

#[test]
fn dice_ce_learns() {
    check_learns(LossKind::DiceCe);
}

#[test]
fn focal_dice_learns() {
    check_learns(LossKind::FocalDice);
}

#[test]
fn bce_learns() {
    check_learns(LossKind::Bce);
}

#[test]
fn tversky_learns() {
    check_learns(LossKind::Tversky);
}

#[test]
fn lovasz_learns() {
    check_learns(LossKind::Lovasz);
}

#[test]
fn a_fresh_run_clears_an_earlier_runs_logs() {
    let mut config = tiny_config(LossKind::Ce, "fresh");
    config.epochs = 2;
    run(&config, false);
    let out = config.output_dir.clone();
    assert!(
        out.join("train").join("epoch-2").is_dir(),
        "burn-train logs epoch 2"
    );
    config.epochs = 1;
    let report = run(&config, false);
    assert_eq!(
        report.history.len(),
        1,
        "metrics.jsonl holds only the new run"
    );
    assert!(
        !out.join("train").join("epoch-2").exists(),
        "the earlier run's epoch-2 logs are gone"
    );
    assert!(out.join("train").join("epoch-1").is_dir());
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn resume_continues_from_the_last_checkpoint() {
    let mut config = tiny_config(LossKind::Ce, "resume");
    config.epochs = 2;
    let first = run(&config, false);
    assert_eq!(first.resumed_from, None);
    assert_eq!(last_checkpoint(&config.output_dir), Some(2));

    config.epochs = 3;
    let second = run(&config, true);
    assert_eq!(second.resumed_from, Some(2));
    let epochs: Vec<usize> = second.history.iter().map(|r| r.epoch).collect();
    assert_eq!(
        epochs,
        vec![1, 2, 3],
        "metrics.jsonl continues after the checkpoint"
    );
    assert_eq!(last_checkpoint(&config.output_dir), Some(3));
    // Resuming continues the weights: epoch 3 starts from epoch 2's model, so its training
    // loss is not back at the first epoch's level.
    let h = &second.history;
    assert!(h[2].train_loss.unwrap() < h[0].train_loss.unwrap());
    std::fs::remove_dir_all(&config.output_dir).ok();
}

#[test]
fn resume_without_checkpoint_is_an_error() {
    let config = tiny_config(LossKind::Ce, "no-checkpoint");
    let err = train::<B>(&config, true, &Default::default(), Progress::Quiet).unwrap_err();
    assert!(err.to_string().contains("no checkpoint"), "{err}");
}
