use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn_losses::{CrossEntropyLossConfig, FocalLossConfig, Reduction};
use burn_losses_conformance::*;

fn fixture<B: AutodiffBackend, const D: usize, const K: usize>(ctx: &Ctx<B>, case: &Case) {
    let loss = case.config::<FocalLossConfig>().init::<B>(&ctx.device);
    let targets = case.int_target::<B, K>(&ctx.device);
    check_case::<B, D>(ctx, case, |x| loss.forward(x, targets));
}

/// Values and gradients equal the (fixed) seed focal loss run by PyTorch autograd.
fn pytorch_fixtures<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for case in load_fixtures("focal") {
        with_rank!(case.input_shape.len(), fixture, ctx, &case);
    }
}

/// gamma = 0 without alpha is cross-entropy, for every reduction, with ignored elements.
fn gamma_zero_is_cross_entropy<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(2 * 4 * 3, 7, 3.0);
    let y = int_tensor::<B, 2>(&[0., 3., 1., 2., -100., 0.], &[2, 3], &ctx.device);
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        let focal = FocalLossConfig::new(4)
            .with_gamma(0.0)
            .with_reduction(reduction)
            .init::<B>(&ctx.device);
        let ce = CrossEntropyLossConfig::new()
            .with_reduction(reduction)
            .init::<B>(&ctx.device);
        let xf = float_tensor::<B, 3>(&x, &[2, 4, 3], &ctx.device).require_grad();
        let xc = float_tensor::<B, 3>(&x, &[2, 4, 3], &ctx.device).require_grad();
        let (lf, lc) = (
            focal.forward(xf.clone(), y.clone()),
            ce.forward(xc.clone(), y.clone()),
        );
        assert_close(
            "gamma 0 vs CE",
            &values(lf.clone()),
            &values(lc.clone()),
            ctx.tol,
        );
        let (gf, gc) = (lf.sum().backward(), lc.sum().backward());
        assert_close(
            "gamma 0 vs CE grad",
            &values(xf.grad(&gf).unwrap()),
            &values(xc.grad(&gc).unwrap()),
            ctx.tol,
        );
    }
}

/// p_y → 1 (exactly 1 in f32) with 0 < gamma < 1, gamma = 0 and gamma > 1: finite gradients.
fn confident_predictions_finite<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = [
        1e4, -1e4, 0.0, 30.0, 0.0, 0.0, 20.0, 1.0, -3.0, 1e4, -1e4, 5.0,
    ];
    let y = int_tensor::<B, 1>(&[0., 0., 0., 1.], &[4], &ctx.device);
    for gamma in [0.0, 0.25, 0.5, 0.999, 1.0, 2.0, 4.5] {
        let loss = FocalLossConfig::new(3)
            .with_gamma(gamma)
            .init::<B>(&ctx.device);
        let x = float_tensor::<B, 2>(&x, &[4, 3], &ctx.device).require_grad();
        let out = loss.forward(x.clone(), y.clone());
        let grads = out.clone().backward();
        let (value, grad) = (values(out), values(x.grad(&grads).unwrap()));
        assert!(
            value.iter().chain(&grad).all(|v| v.is_finite()),
            "gamma {gamma}: value {value:?} grad {grad:?}"
        );
    }
}

fn all_ignored_is_zero<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = float_tensor::<B, 4>(
        &pseudo_random(2 * 3 * 2 * 2, 8, 2.0),
        &[2, 3, 2, 2],
        &ctx.device,
    );
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        let loss = FocalLossConfig::new(3)
            .with_alpha(Some(vec![0.2, 0.3, 0.5]))
            .with_ignore_index(255)
            .with_reduction(reduction)
            .init::<B>(&ctx.device);
        let y = int_tensor::<B, 3>(&[255.; 8], &[2, 2, 2], &ctx.device);
        assert_zero_loss_and_grad(ctx, "all ignored", x.clone(), |x| loss.forward(x, y));
    }
}

fn finite_differences<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(3 * 4, 9, 2.0);
    let y = int_tensor::<B, 1>(&[0., 3., -100.], &[3], &ctx.device);
    for gamma in [0.5, 2.0, 3.0] {
        let loss = FocalLossConfig::new(4)
            .with_alpha(Some(vec![0.25, 0.5, 1.0, 2.0]))
            .with_gamma(gamma)
            .with_reduction(Reduction::Sum)
            .init::<B>(&ctx.device);
        finite_difference_check::<B, 2>(ctx, "focal", &x, &[3, 4], |x| loss.forward(x, y.clone()));
    }
}

fn errors<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let device = ctx.device.clone();
    let loss = FocalLossConfig::new(4).init::<B>(&device);
    let d = device.clone();
    assert_panics_with(&["FocalLoss", "3 classes", "num_classes", "4"], move || {
        loss.forward(
            Tensor::<B, 2>::zeros([2, 3], &d),
            Tensor::<B, 1, Int>::zeros([2], &d),
        )
    });
    let loss = FocalLossConfig::new(3).init::<B>(&device);
    let d = device.clone();
    assert_panics_with(&["FocalLoss", "target value 3", "3 classes"], move || {
        let y = int_tensor::<B, 1>(&[0., 3.], &[2], &d);
        loss.forward(Tensor::<B, 2>::zeros([2, 3], &d), y)
    });
    let loss = FocalLossConfig::new(3).init::<B>(&device);
    assert_panics_with(&["FocalLoss", "[2, 5]", "[2, 3, 5]"], move || {
        loss.forward(
            Tensor::<B, 3>::zeros([2, 3, 5], &device),
            Tensor::<B, 2, Int>::zeros([2, 3], &device),
        )
    });
}

backend_tests!(
    pytorch_fixtures,
    gamma_zero_is_cross_entropy,
    confident_predictions_finite,
    all_ignored_is_zero,
    finite_differences,
    errors,
);
