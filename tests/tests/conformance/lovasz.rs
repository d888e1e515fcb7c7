use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn_losses::{LovaszClasses, LovaszHingeLossConfig, LovaszSoftmaxLossConfig};
use burn_losses_conformance::*;

fn softmax_fixture<B: AutodiffBackend, const D: usize, const K: usize>(ctx: &Ctx<B>, case: &Case) {
    let loss = case
        .config_over(&LovaszSoftmaxLossConfig::new())
        .init::<B>(&ctx.device);
    let targets = case.int_target::<B, K>(&ctx.device);
    check_case::<B, D>(ctx, case, |x| loss.forward(x, targets));
}

fn hinge_fixture<B: AutodiffBackend, const D: usize>(ctx: &Ctx<B>, case: &Case) {
    let loss = case
        .config_over(&LovaszHingeLossConfig::new())
        .init::<B>(&ctx.device);
    let targets = case.float_target::<B, D>(&ctx.device);
    check_case::<B, D>(ctx, case, |x| loss.forward(x, targets));
}

/// Values and gradients equal smp's `LovaszLoss` ("multiclass" and "binary", `per_image`,
/// `ignore_index`) and kornia's `lovasz_softmax_loss` / `lovasz_hinge_loss`, with continuous
/// random logits (no ties).
fn reference_fixtures<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for case in load_fixtures("lovasz") {
        match (case.loss.as_deref(), case.input_shape.len()) {
            (Some("lovasz_softmax"), rank) => with_rank!(rank, softmax_fixture, ctx, &case),
            (Some("lovasz_hinge"), 2) => hinge_fixture::<B, 2>(ctx, &case),
            (Some("lovasz_hinge"), 3) => hinge_fixture::<B, 3>(ctx, &case),
            (Some("lovasz_hinge"), 4) => hinge_fixture::<B, 4>(ctx, &case),
            other => panic!("{}: unsupported {other:?}", case.name),
        }
    }
}

/// Every pixel ignored: 0 with zero gradient, per batch and per image, both class modes; the
/// hinge loss likewise.
fn all_ignored_is_zero<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = float_tensor::<B, 3>(&pseudo_random(2 * 3 * 4, 62, 2.0), &[2, 3, 4], &ctx.device);
    for classes in [LovaszClasses::Present, LovaszClasses::All] {
        for per_image in [false, true] {
            let loss = LovaszSoftmaxLossConfig::new()
                .with_classes(classes)
                .with_per_image(per_image)
                .with_ignore_index(255)
                .init::<B>(&ctx.device);
            let y = int_tensor::<B, 2>(&[255.; 8], &[2, 4], &ctx.device);
            assert_zero_loss_and_grad(ctx, "lovasz softmax all ignored", x.clone(), |x| {
                loss.forward(x, y)
            });
        }
    }
    let loss = LovaszHingeLossConfig::new()
        .with_ignore_value(Some(255.0))
        .init::<B>(&ctx.device);
    let x = float_tensor::<B, 2>(&pseudo_random(8, 63, 2.0), &[2, 4], &ctx.device);
    let y = Tensor::<B, 2>::full([2, 4], 255.0, &ctx.device);
    assert_zero_loss_and_grad(ctx, "lovasz hinge all ignored", x, |x| loss.forward(x, y));
}

/// An ignored pixel changes nothing, wherever its error sorts: the loss with a pixel marked
/// ignored equals the loss of the batch without it, for values and gradients of the rest.
fn ignored_pixel_is_removed<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(3 * 6, 64, 3.0);
    let labels = [0., 2., 1., 1., 0., 2.];
    let kept: Vec<f64> = (0..3)
        .flat_map(|c| [0, 1, 3, 4, 5].map(|s| x[c * 6 + s]))
        .collect();
    for classes in [LovaszClasses::Present, LovaszClasses::All] {
        let loss = LovaszSoftmaxLossConfig::new()
            .with_classes(classes)
            .with_ignore_index(255)
            .init::<B>(&ctx.device);
        let mut ignored = labels;
        ignored[2] = 255.;
        let with = loss.forward(
            float_tensor::<B, 3>(&x, &[1, 3, 6], &ctx.device),
            int_tensor::<B, 2>(&ignored, &[1, 6], &ctx.device),
        );
        let without = loss.forward(
            float_tensor::<B, 3>(&kept, &[1, 3, 5], &ctx.device),
            int_tensor::<B, 2>(&[0., 2., 1., 0., 2.], &[1, 5], &ctx.device),
        );
        assert_close(
            &format!("{classes:?}"),
            &values(with),
            &values(without),
            ctx.tol,
        );
    }
}

fn errors<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let loss = LovaszSoftmaxLossConfig::new().init::<B>(&ctx.device);
    let d = ctx.device.clone();
    assert_panics_with(
        &["LovaszSoftmaxLoss", "target value 7", "3 classes"],
        move || {
            loss.forward(
                Tensor::<B, 3>::zeros([1, 3, 2], &d),
                Tensor::<B, 2, Int>::from_data(TensorData::new(vec![0i64, 7], [1, 2]), &d),
            )
        },
    );
    let loss = LovaszSoftmaxLossConfig::new().init::<B>(&ctx.device);
    let d = ctx.device.clone();
    assert_panics_with(&["LovaszSoftmaxLoss", "[1, 2]", "[1, 3]"], move || {
        loss.forward(
            Tensor::<B, 3>::zeros([1, 3, 2], &d),
            Tensor::<B, 2, Int>::zeros([1, 3], &d),
        )
    });
    let loss = LovaszHingeLossConfig::new().init::<B>(&ctx.device);
    let d = ctx.device.clone();
    assert_panics_with(&["LovaszHingeLoss", "[2, 3]", "[2, 4]"], move || {
        loss.forward(
            Tensor::<B, 2>::zeros([2, 3], &d),
            Tensor::<B, 2>::zeros([2, 4], &d),
        )
    });
    let message = LovaszHingeLossConfig::new()
        .with_ignore_value(Some(f32::INFINITY))
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("LovaszHingeLoss") && message.contains("ignore_value"),
        "{message}"
    );
}

backend_tests!(
    reference_fixtures,
    all_ignored_is_zero,
    ignored_pixel_is_removed,
    errors,
);
