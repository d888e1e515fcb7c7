use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn_losses::{DiceLossConfig, Reduction, one_hot};
use burn_losses_conformance::*;

fn fixture<B: AutodiffBackend, const D: usize, const K: usize>(ctx: &Ctx<B>, case: &Case) {
    let loss = case.config::<DiceLossConfig>().init::<B>(&ctx.device);
    match case.loss.as_deref() {
        Some("dice") => {
            let targets = case.float_target::<B, D>(&ctx.device);
            check_case::<B, D>(ctx, case, |x| loss.forward(x, targets));
        }
        Some("dice_indices") => {
            let targets = case.int_target::<B, K>(&ctx.device);
            check_case::<B, D>(ctx, case, |x| loss.forward_indices(x, targets));
        }
        other => panic!("{}: unknown loss {other:?}", case.name),
    }
}

/// Values and gradients equal MONAI's per-class Dice, weighted and averaged over the included
/// classes; one-hot and index targets (255 = left out), 3-D to 5-D.
fn monai_fixtures<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for case in load_fixtures("dice") {
        with_rank!(case.input_shape.len(), fixture, ctx, &case);
    }
}

/// Index targets without excluded pixels give the same loss as their one-hot encoding.
fn indices_equal_one_hot<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = float_tensor::<B, 4>(
        &pseudo_random(2 * 3 * 3 * 3, 13, 3.0),
        &[2, 3, 3, 3],
        &ctx.device,
    );
    let labels: Vec<f64> = (0..18).map(|i| (i * 7 % 3) as f64).collect();
    let labels = int_tensor::<B, 3>(&labels, &[2, 3, 3], &ctx.device);
    let loss = DiceLossConfig::new()
        .with_weight(Some(vec![0.5, 1.0, 2.0]))
        .with_ignore_index(Some(1))
        .with_reduction(Reduction::None)
        .init::<B>(&ctx.device);
    let encoded: Tensor<B, 4> = one_hot(labels.clone(), 3);
    assert_close(
        "indices vs one-hot",
        &values(loss.forward_indices(x.clone(), labels)),
        &values(loss.forward(x, encoded)),
        ctx.tol,
    );
}

/// Every pixel excluded (255): loss 0 and zero gradient.
fn all_excluded_is_zero<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = float_tensor::<B, 4>(
        &pseudo_random(2 * 3 * 2 * 2, 14, 2.0),
        &[2, 3, 2, 2],
        &ctx.device,
    );
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        for smooth in [1.0, 0.0] {
            let loss = DiceLossConfig::new()
                .with_smooth(smooth)
                .with_reduction(reduction)
                .init::<B>(&ctx.device);
            let y = int_tensor::<B, 3>(&[255.; 8], &[2, 2, 2], &ctx.device);
            assert_zero_loss_and_grad(ctx, "all excluded", x.clone(), |x| {
                loss.forward_indices(x, y)
            });
        }
    }
}

fn finite_differences<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(2 * 3 * 4, 15, 2.0);
    let y = int_tensor::<B, 2>(&[0., 2., 1., 255., 1., 1., 0., 2.], &[2, 4], &ctx.device);
    for (weight, ignore, p) in [(None, None, 2.0), (Some(vec![0.5, 2.0, 1.0]), Some(0), 1.0)] {
        let loss = DiceLossConfig::new()
            .with_weight(weight)
            .with_ignore_index(ignore)
            .with_p(p)
            .with_reduction(Reduction::Sum)
            .init::<B>(&ctx.device);
        finite_difference_check::<B, 3>(ctx, "dice", &x, &[2, 3, 4], |x| {
            loss.forward_indices(x, y.clone())
        });
    }
}

fn errors<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let device = ctx.device.clone();
    let loss = DiceLossConfig::new()
        .with_weight(Some(vec![1.0, 2.0]))
        .init::<B>(&device);
    let d = device.clone();
    assert_panics_with(&["DiceLoss", "3 classes", "`weight`", "2"], move || {
        loss.forward(
            Tensor::<B, 3>::zeros([1, 3, 4], &d),
            Tensor::<B, 3>::zeros([1, 3, 4], &d),
        )
    });
    let loss = DiceLossConfig::new()
        .with_ignore_index(Some(3))
        .init::<B>(&device);
    let d = device.clone();
    assert_panics_with(&["DiceLoss", "ignore_index 3", "3 classes"], move || {
        loss.forward_indices(
            Tensor::<B, 3>::zeros([1, 3, 4], &d),
            Tensor::<B, 2, Int>::zeros([1, 4], &d),
        )
    });
    let loss = DiceLossConfig::new().init::<B>(&device);
    let d = device.clone();
    assert_panics_with(&["DiceLoss", "[1, 3, 4]", "[1, 2, 4]"], move || {
        loss.forward(
            Tensor::<B, 3>::zeros([1, 3, 4], &d),
            Tensor::<B, 3>::zeros([1, 2, 4], &d),
        )
    });
    let loss = DiceLossConfig::new().init::<B>(&device);
    assert_panics_with(&["DiceLoss", "[1, 4]", "[1, 5]"], move || {
        loss.forward_indices(
            Tensor::<B, 3>::zeros([1, 3, 4], &device),
            Tensor::<B, 2, Int>::zeros([1, 5], &device),
        )
    });
}

backend_tests!(
    monai_fixtures,
    indices_equal_one_hot,
    all_excluded_is_zero,
    finite_differences,
    errors,
);
