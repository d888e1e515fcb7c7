use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn_losses::{Activation, DiceLossConfig, EmptyClass, Reduction, TverskyLossConfig};
use burn_losses_conformance::*;

fn fixture<B: AutodiffBackend, const D: usize, const K: usize>(ctx: &Ctx<B>, case: &Case) {
    let loss = case
        .config_over(&TverskyLossConfig::new())
        .init::<B>(&ctx.device);
    match case.loss.as_deref() {
        Some("tversky") => {
            let targets = case.float_target::<B, D>(&ctx.device);
            check_case::<B, D>(ctx, case, |x| loss.forward(x, targets));
        }
        Some("tversky_indices") => {
            let targets = case.int_target::<B, K>(&ctx.device);
            check_case::<B, D>(ctx, case, |x| loss.forward_indices(x, targets));
        }
        other => panic!("{}: unknown loss {other:?}", case.name),
    }
}

/// Values and gradients equal MONAI's `TverskyLoss`, smp's (focal) `TverskyLoss` and kornia's
/// `tversky_loss`: α ≠ β, γ 0.5/1/2, weights, ignored pixels, ±1e4 logits, `N = 1`.
fn reference_fixtures<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for case in load_fixtures("tversky") {
        with_rank!(case.input_shape.len(), fixture, ctx, &case);
    }
}

/// `α = β = 0.5` is the Dice loss with `p = 1` and doubled smoothing.
fn half_half_is_dice<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(2 * 3 * 5, 31, 3.0);
    let y = int_tensor::<B, 2>(
        &[0., 1., 2., 2., 255., 1., 1., 0., 2., 2.],
        &[2, 5],
        &ctx.device,
    );
    for batch in [false, true] {
        let tversky = TverskyLossConfig::new()
            .with_smooth_nr(0.3)
            .with_smooth_dr(0.3)
            .with_batch(batch)
            .with_reduction(Reduction::None)
            .init::<B>(&ctx.device);
        let dice = DiceLossConfig::new()
            .with_p(1.0)
            .with_smooth(0.6)
            .with_batch(batch)
            .with_reduction(Reduction::None)
            .init::<B>(&ctx.device);
        let xt = || float_tensor::<B, 3>(&x, &[2, 3, 5], &ctx.device);
        assert_close(
            &format!("tversky(0.5, 0.5) vs dice, batch {batch}"),
            &values(tversky.forward_indices(xt(), y.clone())),
            &values(dice.forward_indices(xt(), y.clone())),
            ctx.tol,
        );
    }
}

/// The focal exponent applies to the class mean: `l_γ = l_1^γ`.
fn gamma_is_a_power_of_the_class_mean<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(2 * 2 * 6, 32, 2.0);
    let t: Vec<f64> = pseudo_random(2 * 2 * 6, 33, 1.0)
        .iter()
        .map(|v| f64::from(u8::from(*v > 0.0)))
        .collect();
    let config = TverskyLossConfig::new()
        .with_activation(Activation::Sigmoid)
        .with_alpha(0.3)
        .with_beta(0.7)
        .with_reduction(Reduction::None);
    let run = |gamma: f32| {
        let loss = config.clone().with_gamma(gamma).init::<B>(&ctx.device);
        values(loss.forward(
            float_tensor::<B, 3>(&x, &[2, 2, 6], &ctx.device),
            float_tensor::<B, 3>(&t, &[2, 2, 6], &ctx.device),
        ))
    };
    let base = run(1.0);
    for gamma in [0.5, 2.0, 4.0 / 3.0] {
        let expected: Vec<f64> = base.iter().map(|l| l.powf(gamma)).collect();
        assert_close(
            &format!("gamma {gamma}"),
            &run(gamma as f32),
            &expected,
            ctx.tol,
        );
    }
}

/// A perfect fit scores 0 with zero, finite gradient for γ ≠ 1, also γ < 1 (the references
/// give NaN there).
fn perfect_fit_is_zero_for_small_gamma<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let t = [1., 0., 0., 1., 1., 0.];
    // (γ = 1 has a non-zero gradient at a perfect fit: the score is not at a minimum of
    // every coordinate; the power γ·m^(γ−1)·∂m vanishes for γ > 1 and is cut for γ < 1.)
    for gamma in [0.5, 0.75, 2.0] {
        let loss = TverskyLossConfig::new()
            .with_activation(Activation::None)
            .with_gamma(gamma)
            .with_empty_class(EmptyClass::Zero)
            .init::<B>(&ctx.device);
        let target = float_tensor::<B, 3>(&t, &[1, 2, 3], &ctx.device);
        let x = float_tensor::<B, 3>(&t, &[1, 2, 3], &ctx.device);
        assert_zero_loss_and_grad(ctx, &format!("perfect fit, gamma {gamma}"), x, |x| {
            loss.forward(x, target)
        });
    }
}

fn finite_differences<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(2 * 3 * 4, 34, 2.0);
    let y = int_tensor::<B, 2>(&[0., 2., 1., 255., 1., 1., 0., 0.], &[2, 4], &ctx.device);
    for (gamma, batch, empty) in [
        (2.0, false, EmptyClass::Keep),
        (0.75, true, EmptyClass::Zero),
        (1.0, false, EmptyClass::Exclude),
    ] {
        let loss = TverskyLossConfig::new()
            .with_alpha(0.3)
            .with_beta(0.7)
            .with_gamma(gamma)
            .with_batch(batch)
            .with_empty_class(empty)
            .with_smooth_nr(0.1)
            .with_smooth_dr(0.2)
            .with_weight(Some(vec![0.5, 1.0, 2.0]))
            .with_reduction(Reduction::Sum)
            .init::<B>(&ctx.device);
        finite_difference_check::<B, 3>(ctx, &format!("{loss}"), &x, &[2, 3, 4], |x| {
            loss.forward_indices(x, y.clone())
        });
    }
}

fn errors<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let e = |config: TverskyLossConfig| config.validate().unwrap_err().to_string();
    let cases = [
        (
            e(TverskyLossConfig::new().with_alpha(-0.1)),
            ["alpha", "-0.1"],
        ),
        (
            e(TverskyLossConfig::new().with_beta(f32::NAN)),
            ["beta", "NaN"],
        ),
        (
            e(TverskyLossConfig::new().with_alpha(0.0).with_beta(0.0)),
            ["alpha + beta", "0"],
        ),
        (
            e(TverskyLossConfig::new().with_gamma(0.0)),
            ["gamma", "> 0"],
        ),
        (
            e(TverskyLossConfig::new().with_smooth_dr(-1.0)),
            ["smooth_dr", "-1"],
        ),
        (
            e(TverskyLossConfig::new().with_weight(Some(vec![1.0, -1.0]))),
            ["weight[1]", "-1"],
        ),
    ];
    for (message, needles) in cases {
        assert!(message.contains("TverskyLoss"), "{message}");
        for needle in needles {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
    }
    let loss = TverskyLossConfig::new()
        .with_weight(Some(vec![1.0, 2.0]))
        .init::<B>(&ctx.device);
    let d = ctx.device.clone();
    assert_panics_with(&["TverskyLoss", "3 classes", "`weight`", "2"], move || {
        loss.forward(
            Tensor::<B, 3>::zeros([1, 3, 4], &d),
            Tensor::<B, 3>::zeros([1, 3, 4], &d),
        )
    });
    let loss = TverskyLossConfig::new().init::<B>(&ctx.device);
    let d = ctx.device.clone();
    assert_panics_with(&["TverskyLoss", "[2, 4]", "[2, 5]"], move || {
        loss.forward_indices(
            Tensor::<B, 3>::zeros([2, 3, 4], &d),
            Tensor::<B, 2, Int>::zeros([2, 5], &d),
        )
    });
}

backend_tests!(
    reference_fixtures,
    half_half_is_dice,
    gamma_is_a_power_of_the_class_mean,
    perfect_fit_is_zero_for_small_gamma,
    finite_differences,
    errors,
);
