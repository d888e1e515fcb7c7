use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn_losses::{BinaryFocalLossConfig, Reduction};
use burn_losses_conformance::*;

fn fixture<B: AutodiffBackend, const D: usize, const K: usize>(ctx: &Ctx<B>, case: &Case) {
    let loss = case
        .config::<BinaryFocalLossConfig>()
        .init::<B>(&ctx.device);
    let targets = case.float_target::<B, D>(&ctx.device);
    check_case::<B, D>(ctx, case, |x| loss.forward(x, targets));
}

/// Values and gradients equal torchvision's `sigmoid_focal_loss`.
fn torchvision_fixtures<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for case in load_fixtures("binary_focal") {
        with_rank!(case.input_shape.len(), fixture, ctx, &case);
    }
}

fn finite_differences<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(2 * 6, 10, 3.0);
    let t = [1., 0., 0., 1., 0.3, 0.8, 0., 0., 1., 1., 0.5, 0.];
    let t = float_tensor::<B, 2>(&t, &[2, 6], &ctx.device);
    for (alpha, gamma) in [(Some(0.25), 2.0), (None, 0.5), (Some(0.9), 0.0)] {
        let loss = BinaryFocalLossConfig::new()
            .with_alpha(alpha)
            .with_gamma(gamma)
            .with_reduction(Reduction::Sum)
            .init::<B>(&ctx.device);
        finite_difference_check::<B, 2>(ctx, "binary focal", &x, &[2, 6], |x| {
            loss.forward(x, t.clone())
        });
    }
}

/// `forward_no_reduction` keeps the input's shape and equals `Reduction::None`.
fn no_reduction_shape<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = float_tensor::<B, 3>(&pseudo_random(12, 11, 3.0), &[2, 2, 3], &ctx.device);
    let t = Tensor::<B, 3>::ones([2, 2, 3], &ctx.device);
    let config = BinaryFocalLossConfig::new();
    let kept = config
        .init::<B>(&ctx.device)
        .forward_no_reduction(x.clone(), t.clone());
    assert_eq!(kept.dims(), [2, 2, 3]);
    let none = config
        .with_reduction(Reduction::None)
        .init::<B>(&ctx.device)
        .forward(x, t);
    assert_eq!(values(none), values(kept));
}

fn errors<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let loss = BinaryFocalLossConfig::new().init::<B>(&ctx.device);
    let d = ctx.device.clone();
    assert_panics_with(&["BinaryFocalLoss", "[2, 3]", "[3, 2]"], move || {
        loss.forward(
            Tensor::<B, 2>::zeros([2, 3], &d),
            Tensor::<B, 2>::zeros([3, 2], &d),
        )
    });
}

backend_tests!(
    torchvision_fixtures,
    finite_differences,
    no_reduction_shape,
    errors
);
