use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn_losses::{
    CrossEntropyLossConfig, DiceCeLossConfig, DiceFocalLossConfig, DiceLossConfig, FocalLossConfig,
    Reduction,
};
use burn_losses_conformance::*;

fn fixture<B: AutodiffBackend, const D: usize, const K: usize>(ctx: &Ctx<B>, case: &Case) {
    match case.loss.as_deref() {
        Some("dice_ce_indices") => {
            let loss = case
                .config_over(&DiceCeLossConfig::new())
                .init::<B>(&ctx.device);
            let targets = case.int_target::<B, K>(&ctx.device);
            check_case::<B, D>(ctx, case, |x| loss.forward_indices(x, targets));
        }
        Some("dice_ce") => {
            let loss = case
                .config_over(&DiceCeLossConfig::new())
                .init::<B>(&ctx.device);
            let targets = case.float_target::<B, D>(&ctx.device);
            check_case::<B, D>(ctx, case, |x| loss.forward(x, targets));
        }
        Some("dice_focal_indices") => {
            let base = DiceFocalLossConfig::new(FocalLossConfig::new(case.input_shape[1]));
            let loss = case.config_over(&base).init::<B>(&ctx.device);
            let targets = case.int_target::<B, K>(&ctx.device);
            check_case::<B, D>(ctx, case, |x| loss.forward_indices(x, targets));
        }
        other => panic!("{}: unknown loss {other:?}", case.name),
    }
}

/// Values and gradients equal MONAI's `DiceCELoss` (index and one-hot targets, λ, weights,
/// smoothing, batch, jaccard, no background) and, with ignored pixels, the sum of the MONAI
/// Dice and PyTorch cross-entropy references (nnU-Net's behaviour).
fn dice_ce_fixtures<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for case in load_fixtures("dice_ce") {
        with_rank!(case.input_shape.len(), fixture, ctx, &case);
    }
}

/// Values and gradients equal the MONAI Dice reference plus the focal reference.
fn dice_focal_fixtures<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for case in load_fixtures("dice_focal") {
        with_rank!(case.input_shape.len(), fixture, ctx, &case);
    }
}

/// A pixel labelled 255 counts nowhere when the cross-entropy ignores 255: the loss of a batch
/// with such pixels equals the loss of the batch without them.
fn ignored_pixel_counts_nowhere<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(3 * 5, 61, 2.0);
    let loss = DiceCeLossConfig::new()
        .with_dice(DiceLossConfig::new().with_p(1.0))
        .with_cross_entropy(CrossEntropyLossConfig::new().with_ignore_index(255))
        .init::<B>(&ctx.device);
    let with_ignored = loss.forward_indices(
        float_tensor::<B, 3>(&x, &[1, 3, 5], &ctx.device),
        int_tensor::<B, 2>(&[0., 2., 255., 1., 1.], &[1, 5], &ctx.device),
    );
    let kept: Vec<f64> = (0..3)
        .flat_map(|c| [0, 1, 3, 4].map(|s| x[c * 5 + s]))
        .collect();
    let without = loss.forward_indices(
        float_tensor::<B, 3>(&kept, &[1, 3, 4], &ctx.device),
        int_tensor::<B, 2>(&[0., 2., 1., 1.], &[1, 4], &ctx.device),
    );
    assert_close(
        "255 vs removed",
        &values(with_ignored),
        &values(without),
        ctx.tol,
    );
}

fn errors<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let message = DiceCeLossConfig::new()
        .with_cross_entropy(CrossEntropyLossConfig::new().with_reduction(Reduction::None))
        .validate()
        .unwrap_err()
        .to_string();
    for needle in ["DiceCeLoss", "cross_entropy.reduction", "None"] {
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
    let message = DiceCeLossConfig::new()
        .with_lambda_ce(f32::INFINITY)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("lambda_ce") && message.contains("inf"),
        "{message}"
    );
    let message = DiceCeLossConfig::new()
        .with_dice(DiceLossConfig::new().with_p(0.0))
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("DiceLoss") && message.contains("`p`"),
        "{message}"
    );
    let message = DiceFocalLossConfig::new(FocalLossConfig::new(2))
        .with_dice(DiceLossConfig::new().with_reduction(Reduction::None))
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("DiceFocalLoss") && message.contains("dice.reduction"),
        "{message}"
    );
    let message = DiceFocalLossConfig::new(FocalLossConfig::new(2))
        .with_lambda_focal(-1.0)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("lambda_focal") && message.contains("-1"),
        "{message}"
    );
    let loss = DiceFocalLossConfig::new(FocalLossConfig::new(2)).init::<B>(&ctx.device);
    let d = ctx.device.clone();
    assert_panics_with(&["FocalLoss", "3 classes", "num_classes"], move || {
        loss.forward_indices(
            Tensor::<B, 3>::zeros([1, 3, 4], &d),
            Tensor::<B, 2, Int>::zeros([1, 4], &d),
        )
    });
}

backend_tests!(
    dice_ce_fixtures,
    dice_focal_fixtures,
    ignored_pixel_counts_nowhere,
    errors,
);
