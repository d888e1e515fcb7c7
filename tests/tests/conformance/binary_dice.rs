use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn_losses::{Activation, BinaryDiceLossConfig, DiceLossConfig, EmptyClass, Reduction};
use burn_losses_conformance::*;

fn fixture<B: AutodiffBackend, const D: usize, const K: usize>(ctx: &Ctx<B>, case: &Case) {
    let loss = case
        .config_over(&BinaryDiceLossConfig::new())
        .init::<B>(&ctx.device);
    let targets = case.float_target::<B, D>(&ctx.device);
    check_case::<B, D>(ctx, case, |x| loss.forward(x, targets));
}

/// Values and gradients equal MONAI's `DiceLoss` (per sample), empty masks included.
fn monai_fixtures<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for case in load_fixtures("binary_dice") {
        with_rank!(case.input_shape.len(), fixture, ctx, &case);
    }
}

/// Values and gradients equal MONAI's `DiceLoss(sigmoid=True)` and smp's `DiceLoss("binary")` /
/// `JaccardLoss("binary")`: sigmoid, batch, Jaccard, separate smoothing, empty masks.
fn reference_options<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for case in load_fixtures("binary_dice_options") {
        with_rank!(case.input_shape.len(), fixture, ctx, &case);
    }
}

/// The binary loss on `[N, S]` is the multi-class loss on `[N, 1, S]` with a sigmoid.
fn binary_is_one_channel_dice<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(3 * 5, 21, 3.0);
    let t: Vec<f64> = pseudo_random(3 * 5, 22, 1.0)
        .iter()
        .map(|v| f64::from(u8::from(*v > 0.2)))
        .collect();
    for (batch, jaccard, empty) in [
        (false, false, EmptyClass::Keep),
        (true, true, EmptyClass::Zero),
        (false, true, EmptyClass::Exclude),
    ] {
        let binary = BinaryDiceLossConfig::new()
            .with_activation(Activation::Sigmoid)
            .with_batch(batch)
            .with_jaccard(jaccard)
            .with_empty_class(empty)
            .with_reduction(Reduction::None)
            .init::<B>(&ctx.device);
        let multi = DiceLossConfig::new()
            .with_activation(Activation::Sigmoid)
            .with_batch(batch)
            .with_jaccard(jaccard)
            .with_empty_class(empty)
            .with_reduction(Reduction::None)
            .init::<B>(&ctx.device);
        assert_close(
            &format!("binary vs one-channel dice {batch} {jaccard} {empty:?}"),
            &values(binary.forward(
                float_tensor::<B, 2>(&x, &[3, 5], &ctx.device),
                float_tensor::<B, 2>(&t, &[3, 5], &ctx.device),
            )),
            &values(multi.forward(
                float_tensor::<B, 3>(&x, &[3, 1, 5], &ctx.device),
                float_tensor::<B, 3>(&t, &[3, 1, 5], &ctx.device),
            )),
            ctx.tol,
        );
    }
}

/// Under `Zero` and `Exclude`, an empty mask scores 0 with zero gradient whatever is predicted.
fn empty_mask_policies<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for empty in [EmptyClass::Zero, EmptyClass::Exclude] {
        let loss = BinaryDiceLossConfig::new()
            .with_activation(Activation::Sigmoid)
            .with_empty_class(empty)
            .init::<B>(&ctx.device);
        let x = float_tensor::<B, 2>(&pseudo_random(8, 23, 4.0), &[2, 4], &ctx.device);
        let zeros = Tensor::<B, 2>::zeros([2, 4], &ctx.device);
        assert_zero_loss_and_grad(ctx, &format!("{empty:?} empty mask"), x, |x| {
            loss.forward(x, zeros)
        });
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
    let err = BinaryDiceLossConfig::new()
        .with_activation(Activation::Softmax)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("BinaryDiceLoss") && err.contains("activation") && err.contains("Softmax"),
        "{err}"
    );
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
    reference_options,
    binary_is_one_channel_dice,
    empty_mask_policies,
    empty_and_perfect,
    small_p_finite,
    finite_differences,
    errors
);
