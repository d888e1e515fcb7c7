use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn_losses::{
    Activation, BinaryDiceLossConfig, GeneralizedDiceLossConfig, GeneralizedDiceWeight, Reduction,
};
use burn_losses_conformance::*;

fn fixture<B: AutodiffBackend, const D: usize, const K: usize>(ctx: &Ctx<B>, case: &Case) {
    let loss = case
        .config_over(&GeneralizedDiceLossConfig::new())
        .init::<B>(&ctx.device);
    match case.loss.as_deref() {
        Some("generalized_dice") => {
            let targets = case.float_target::<B, D>(&ctx.device);
            check_case::<B, D>(ctx, case, |x| loss.forward(x, targets));
        }
        Some("generalized_dice_indices") => {
            let targets = case.int_target::<B, K>(&ctx.device);
            check_case::<B, D>(ctx, case, |x| loss.forward_indices(x, targets));
        }
        other => panic!("{}: unknown loss {other:?}", case.name),
    }
}

/// Values and gradients equal MONAI's `GeneralizedDiceLoss` for every weight type, with and
/// without `batch` and the background, empty classes (the largest-weight rule) included.
fn monai_fixtures<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for case in load_fixtures("generalized_dice") {
        with_rank!(case.input_shape.len(), fixture, ctx, &case);
    }
}

/// With one channel and uniform weights, generalized Dice is the binary Dice with `p = 1`.
fn one_channel_uniform_is_binary_dice<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(3 * 6, 41, 3.0);
    let t: Vec<f64> = pseudo_random(3 * 6, 42, 1.0)
        .iter()
        .enumerate()
        // Every sample has a foreground pixel: an empty one takes weight 0 here (no finite
        // weight to borrow) where the binary Dice scores 1.
        .map(|(i, v)| f64::from(u8::from(*v > 0.1 || i % 6 == 0)))
        .collect();
    for weight_type in [
        GeneralizedDiceWeight::Uniform,
        GeneralizedDiceWeight::Simple,
        GeneralizedDiceWeight::Square,
    ] {
        // With one class the weight cancels out of the ratio (but for the smoothing).
        let generalized = GeneralizedDiceLossConfig::new()
            .with_weight_type(weight_type)
            .with_activation(Activation::Sigmoid)
            .with_smooth_nr(0.0)
            .with_smooth_dr(0.0)
            .with_reduction(Reduction::None)
            .init::<B>(&ctx.device);
        let binary = BinaryDiceLossConfig::new()
            .with_activation(Activation::Sigmoid)
            .with_p(1.0)
            .with_smooth(0.0)
            .with_reduction(Reduction::None)
            .init::<B>(&ctx.device);
        assert_close(
            &format!("{weight_type:?} vs binary dice"),
            &values(generalized.forward(
                float_tensor::<B, 3>(&x, &[3, 1, 6], &ctx.device),
                float_tensor::<B, 3>(&t, &[3, 1, 6], &ctx.device),
            )),
            &values(binary.forward(
                float_tensor::<B, 2>(&x, &[3, 6], &ctx.device),
                float_tensor::<B, 2>(&t, &[3, 6], &ctx.device),
            )),
            ctx.tol,
        );
    }
}

/// Every pixel ignored: the loss is `1 − s_nr/s_dr` = 0 with zero gradient.
fn all_ignored_is_zero<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = float_tensor::<B, 3>(&pseudo_random(2 * 3 * 4, 43, 2.0), &[2, 3, 4], &ctx.device);
    for batch in [false, true] {
        let loss = GeneralizedDiceLossConfig::new()
            .with_batch(batch)
            .init::<B>(&ctx.device);
        let y = int_tensor::<B, 2>(&[255.; 8], &[2, 4], &ctx.device);
        assert_zero_loss_and_grad(ctx, "all ignored", x.clone(), |x| {
            loss.forward_indices(x, y)
        });
    }
}

fn finite_differences<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(2 * 3 * 4, 44, 2.0);
    // Class 2 is absent from sample 0: it takes the largest finite weight.
    let y = int_tensor::<B, 2>(&[0., 1., 1., 255., 2., 1., 0., 0.], &[2, 4], &ctx.device);
    for (weight_type, batch, background) in [
        (GeneralizedDiceWeight::Square, false, true),
        (GeneralizedDiceWeight::Simple, true, false),
        (GeneralizedDiceWeight::Uniform, false, false),
    ] {
        let loss = GeneralizedDiceLossConfig::new()
            .with_weight_type(weight_type)
            .with_batch(batch)
            .with_include_background(background)
            .with_smooth_nr(0.1)
            .with_smooth_dr(0.2)
            .with_reduction(Reduction::Sum)
            .init::<B>(&ctx.device);
        finite_difference_check::<B, 3>(ctx, &format!("{loss}"), &x, &[2, 3, 4], |x| {
            loss.forward_indices(x, y.clone())
        });
    }
}

fn errors<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let err = GeneralizedDiceLossConfig::new()
        .with_smooth_nr(-1.0)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("GeneralizedDiceLoss") && err.contains("smooth_nr") && err.contains("-1"),
        "{err}"
    );
    let loss = GeneralizedDiceLossConfig::new().init::<B>(&ctx.device);
    let d = ctx.device.clone();
    assert_panics_with(
        &["GeneralizedDiceLoss", "Softmax", "[2, 1, 4]"],
        move || {
            loss.forward(
                Tensor::<B, 3>::zeros([2, 1, 4], &d),
                Tensor::<B, 3>::zeros([2, 1, 4], &d),
            )
        },
    );
    let loss = GeneralizedDiceLossConfig::new().init::<B>(&ctx.device);
    let d = ctx.device.clone();
    assert_panics_with(
        &["GeneralizedDiceLoss", "[2, 3, 4]", "[2, 3, 5]"],
        move || {
            loss.forward(
                Tensor::<B, 3>::zeros([2, 3, 4], &d),
                Tensor::<B, 3>::zeros([2, 3, 5], &d),
            )
        },
    );
}

backend_tests!(
    monai_fixtures,
    one_channel_uniform_is_binary_dice,
    all_ignored_is_zero,
    finite_differences,
    errors,
);
