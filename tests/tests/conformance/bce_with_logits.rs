use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn_losses::{BceWithLogitsLossConfig, BinaryFocalLossConfig, Reduction};
use burn_losses_conformance::*;

fn fixture<B: AutodiffBackend, const D: usize>(ctx: &Ctx<B>, case: &Case) {
    let loss = case
        .config_over(&BceWithLogitsLossConfig::new())
        .init::<B>(&ctx.device);
    let targets = case.float_target::<B, D>(&ctx.device);
    check_case::<B, D>(ctx, case, |x| loss.forward(x, targets));
}

/// Values and gradients equal PyTorch's `binary_cross_entropy_with_logits` (`weight`,
/// `pos_weight`) and smp's `SoftBCEWithLogitsLoss` (smoothing, ignored targets): ranks 1 to 5,
/// soft targets, ±1e4 logits, all-ignored batches, `N = 1`.
fn reference_fixtures<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for case in load_fixtures("bce_with_logits") {
        match case.input_shape.len() {
            1 => fixture::<B, 1>(ctx, &case),
            2 => fixture::<B, 2>(ctx, &case),
            3 => fixture::<B, 3>(ctx, &case),
            4 => fixture::<B, 4>(ctx, &case),
            5 => fixture::<B, 5>(ctx, &case),
            r => panic!("unsupported rank {r}"),
        }
    }
}

/// Without `alpha` and with `γ = 0` the sigmoid focal loss is this loss.
fn equals_binary_focal_at_gamma_zero<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(2 * 3 * 4, 51, 4.0);
    let t: Vec<f64> = pseudo_random(2 * 3 * 4, 52, 1.0)
        .iter()
        .map(|v| v.abs())
        .collect();
    let bce = BceWithLogitsLossConfig::new()
        .with_reduction(Reduction::None)
        .init::<B>(&ctx.device);
    let focal = BinaryFocalLossConfig::new()
        .with_alpha(None)
        .with_gamma(0.0)
        .with_reduction(Reduction::None)
        .init::<B>(&ctx.device);
    let xt = || float_tensor::<B, 3>(&x, &[2, 3, 4], &ctx.device);
    let tt = || float_tensor::<B, 3>(&t, &[2, 3, 4], &ctx.device);
    assert_close(
        "bce vs focal(γ = 0)",
        &values(bce.forward(xt(), tt())),
        &values(focal.forward(xt(), tt())),
        ctx.tol,
    );
}

/// `forward_no_reduction` keeps the input's shape and equals `Reduction::None`; every target
/// ignored gives 0 with zero gradient.
fn no_reduction_and_all_ignored<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = float_tensor::<B, 4>(
        &pseudo_random(2 * 2 * 3, 53, 3.0),
        &[2, 2, 3, 1],
        &ctx.device,
    );
    let t = float_tensor::<B, 4>(
        &pseudo_random(2 * 2 * 3, 54, 1.0),
        &[2, 2, 3, 1],
        &ctx.device,
    )
    .abs();
    let config = BceWithLogitsLossConfig::new()
        .with_pos_weight(Some(vec![2.0, 0.5]))
        .with_weight(Some(vec![1.0, 3.0]));
    let unreduced = config
        .init::<B>(&ctx.device)
        .forward_no_reduction(x.clone(), t.clone());
    assert_eq!(unreduced.dims(), [2, 2, 3, 1]);
    let none = config
        .clone()
        .with_reduction(Reduction::None)
        .init::<B>(&ctx.device)
        .forward(x.clone(), t.clone());
    assert_close(
        "no_reduction vs None",
        &values(unreduced),
        &values(none),
        ctx.tol,
    );
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        let loss = config
            .clone()
            .with_ignore_value(Some(255.0))
            .with_label_smoothing(0.2)
            .with_reduction(reduction)
            .init::<B>(&ctx.device);
        let ignored = Tensor::<B, 4>::full([2, 2, 3, 1], 255.0, &ctx.device);
        assert_zero_loss_and_grad(ctx, "all ignored", x.clone(), |x| loss.forward(x, ignored));
    }
}

fn finite_differences<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(2 * 3 * 2, 55, 3.0);
    let mut t: Vec<f64> = pseudo_random(2 * 3 * 2, 56, 1.0)
        .iter()
        .map(|v| v.abs())
        .collect();
    t[3] = 255.0;
    let loss = BceWithLogitsLossConfig::new()
        .with_weight(Some(vec![0.5, 1.0, 2.0]))
        .with_pos_weight(Some(vec![3.0, 1.0, 0.25]))
        .with_label_smoothing(0.1)
        .with_ignore_value(Some(255.0))
        .init::<B>(&ctx.device);
    let targets = float_tensor::<B, 3>(&t, &[2, 3, 2], &ctx.device);
    finite_difference_check::<B, 3>(ctx, "bce with logits", &x, &[2, 3, 2], |x| {
        loss.forward(x, targets.clone())
    });
}

fn errors<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let e = |config: BceWithLogitsLossConfig| config.validate().unwrap_err().to_string();
    for (message, needles) in [
        (
            e(BceWithLogitsLossConfig::new().with_pos_weight(Some(vec![1.0, -2.0]))),
            ["pos_weight[1]", "-2"],
        ),
        (
            e(BceWithLogitsLossConfig::new().with_weight(Some(vec![f32::INFINITY]))),
            ["weight[0]", "inf"],
        ),
        (
            e(BceWithLogitsLossConfig::new().with_label_smoothing(-0.5)),
            ["label_smoothing", "-0.5"],
        ),
        (
            e(BceWithLogitsLossConfig::new().with_ignore_value(Some(f32::NAN))),
            ["ignore_value", "NaN"],
        ),
    ] {
        assert!(message.contains("BceWithLogitsLoss"), "{message}");
        for needle in needles {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
    }
    let device = ctx.device.clone();
    let loss = BceWithLogitsLossConfig::new()
        .with_pos_weight(Some(vec![1.0, 2.0]))
        .init::<B>(&device);
    let d = device.clone();
    assert_panics_with(
        &["BceWithLogitsLoss", "3 classes", "`pos_weight`", "2"],
        move || {
            loss.forward(
                Tensor::<B, 3>::zeros([2, 3, 4], &d),
                Tensor::<B, 3>::zeros([2, 3, 4], &d),
            )
        },
    );
    let loss = BceWithLogitsLossConfig::new()
        .with_weight(Some(vec![1.0]))
        .init::<B>(&device);
    let d = device.clone();
    assert_panics_with(
        &["BceWithLogitsLoss", "`weight`", "rank >= 2", "[4]"],
        move || {
            loss.forward(
                Tensor::<B, 1>::zeros([4], &d),
                Tensor::<B, 1>::zeros([4], &d),
            )
        },
    );
    let loss = BceWithLogitsLossConfig::new().init::<B>(&device);
    assert_panics_with(&["BceWithLogitsLoss", "[2, 3]", "[2, 4]"], move || {
        loss.forward(
            Tensor::<B, 2>::zeros([2, 3], &device),
            Tensor::<B, 2>::zeros([2, 4], &device),
        )
    });
}

backend_tests!(
    reference_fixtures,
    equals_binary_focal_at_gamma_zero,
    no_reduction_and_all_ignored,
    finite_differences,
    errors,
);
