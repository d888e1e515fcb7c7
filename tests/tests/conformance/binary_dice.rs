use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn_losses::{BinaryDiceLossConfig, Reduction};
use burn_losses_conformance::*;

fn fixture<B: AutodiffBackend, const D: usize, const K: usize>(ctx: &Ctx<B>, case: &Case) {
    let loss = case.config::<BinaryDiceLossConfig>().init::<B>(&ctx.device);
    let targets = case.float_target::<B, D>(&ctx.device);
    check_case::<B, D>(ctx, case, |x| loss.forward(x, targets));
}

/// Values and gradients equal MONAI's `DiceLoss` (per sample), empty masks included.
fn monai_fixtures<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for case in load_fixtures("binary_dice") {
        with_rank!(case.input_shape.len(), fixture, ctx, &case);
    }
}

/// An empty mask predicted empty with `smooth = 0` is a perfect score: 0, not NaN, and a
/// perfect prediction scores 0 for any smoothing.
fn empty_and_perfect<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        let loss = BinaryDiceLossConfig::new()
            .with_smooth(0.0)
            .with_reduction(reduction)
            .init::<B>(&ctx.device);
        let zeros = Tensor::<B, 3>::zeros([2, 4, 4], &ctx.device);
        assert_zero_loss_and_grad(ctx, "empty vs empty", zeros.clone(), |x| {
            loss.forward(x, zeros)
        });
    }
    let mask = float_tensor::<B, 2>(&[1., 0., 1., 1., 0., 0.], &[2, 3], &ctx.device);
    for smooth in [0.0, 1.0] {
        for p in [1.0, 2.0, 3.0] {
            let loss = BinaryDiceLossConfig::new()
                .with_smooth(smooth)
                .with_p(p)
                .init::<B>(&ctx.device);
            let value = values(loss.forward(mask.clone(), mask.clone()));
            assert!(
                value[0].abs() < 1e-6,
                "perfect prediction, p {p}, smooth {smooth}: {value:?}"
            );
        }
    }
}

/// The gradient stays finite for p < 1 where predictions are exactly 0.
fn small_p_finite<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let loss = BinaryDiceLossConfig::new()
        .with_p(0.5)
        .init::<B>(&ctx.device);
    let x = float_tensor::<B, 2>(&[0., 0.5, 1., 0.], &[1, 4], &ctx.device).require_grad();
    let t = float_tensor::<B, 2>(&[0., 1., 1., 0.], &[1, 4], &ctx.device);
    let grads = loss.forward(x.clone(), t).backward();
    assert!(
        values(x.grad(&grads).unwrap())
            .iter()
            .all(|g| g.is_finite())
    );
}

fn finite_differences<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x: Vec<f64> = pseudo_random(2 * 6, 12, 1.0)
        .iter()
        .map(|v| 0.5 + 0.45 * v)
        .collect();
    let t = float_tensor::<B, 2>(
        &[1., 0., 0., 1., 1., 1., 0., 0., 0., 1., 0., 0.],
        &[2, 6],
        &ctx.device,
    );
    for (smooth, p) in [(1.0, 2.0), (0.1, 1.0), (1e-3, 3.0)] {
        let loss = BinaryDiceLossConfig::new()
            .with_smooth(smooth)
            .with_p(p)
            .with_reduction(Reduction::Sum)
            .init::<B>(&ctx.device);
        finite_difference_check::<B, 2>(ctx, "binary dice", &x, &[2, 6], |x| {
            loss.forward(x, t.clone())
        });
    }
}

fn errors<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let loss = BinaryDiceLossConfig::new().init::<B>(&ctx.device);
    let d = ctx.device.clone();
    assert_panics_with(&["BinaryDiceLoss", "[2, 3]", "[2, 4]"], move || {
        loss.forward(
            Tensor::<B, 2>::zeros([2, 3], &d),
            Tensor::<B, 2>::zeros([2, 4], &d),
        )
    });
    let loss = BinaryDiceLossConfig::new().init::<B>(&ctx.device);
    let d = ctx.device.clone();
    assert_panics_with(&["BinaryDiceLoss", "rank >= 2", "[3]"], move || {
        loss.forward(
            Tensor::<B, 1>::zeros([3], &d),
            Tensor::<B, 1>::zeros([3], &d),
        )
    });
}

backend_tests!(
    monai_fixtures,
    empty_and_perfect,
    small_p_finite,
    finite_differences,
    errors
);
