use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn_losses::{CrossEntropyLossConfig, Reduction};
use burn_losses_conformance::*;

fn fixture<B: AutodiffBackend, const D: usize, const K: usize>(ctx: &Ctx<B>, case: &Case) {
    let loss = case
        .config::<CrossEntropyLossConfig>()
        .init::<B>(&ctx.device);
    let targets = case.int_target::<B, K>(&ctx.device);
    check_case::<B, D>(ctx, case, |x| loss.forward(x, targets));
}

/// Values and input gradients equal `F.cross_entropy` for every option and rank.
fn pytorch_fixtures<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for case in load_fixtures("cross_entropy") {
        with_rank!(case.input_shape.len(), fixture, ctx, &case);
    }
}

fn probs_fixture<B: AutodiffBackend, const D: usize, const K: usize>(ctx: &Ctx<B>, case: &Case) {
    let loss = case
        .config_over(&CrossEntropyLossConfig::new())
        .init::<B>(&ctx.device);
    let targets = case.float_target::<B, D>(&ctx.device);
    check_case::<B, D>(ctx, case, |x| loss.forward_probs(x, targets));
}

/// Values and gradients equal `F.cross_entropy` with probability targets: soft targets,
/// targets not summing to 1, weight and smoothing, K-dim, ±1e4 logits, `N = 1`.
fn pytorch_probability_fixtures<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for case in load_fixtures("cross_entropy_probs") {
        with_rank!(case.input_shape.len(), probs_fixture, ctx, &case);
    }
}

/// One-hot probability targets give the index-target loss (unweighted mean: both divide by the
/// element count), and `forward_probs_no_reduction` is `Reduction::None` shaped `[N, d..]`.
fn probs_of_one_hot_equal_indices<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = float_tensor::<B, 4>(
        &pseudo_random(2 * 3 * 2 * 2, 71, 3.0),
        &[2, 3, 2, 2],
        &ctx.device,
    );
    let y = int_tensor::<B, 3>(&[0., 2., 1., 1., 2., 2., 0., 1.], &[2, 2, 2], &ctx.device);
    let onehot: Tensor<B, 4> = burn_losses::one_hot(y.clone(), 3);
    for (weight, reduction) in [
        (None, Reduction::Mean),
        (Some(vec![0.5, 1.0, 2.0]), Reduction::Sum),
        (Some(vec![0.5, 1.0, 2.0]), Reduction::None),
    ] {
        let loss = CrossEntropyLossConfig::new()
            .with_weight(weight)
            .with_label_smoothing(0.1)
            .with_reduction(reduction)
            .init::<B>(&ctx.device);
        assert_close(
            &format!("probs vs indices, {reduction:?}"),
            &values(loss.forward_probs(x.clone(), onehot.clone())),
            &values(loss.forward(x.clone(), y.clone())),
            ctx.tol,
        );
        let unreduced: Tensor<B, 3> = loss.forward_probs_no_reduction(x.clone(), onehot.clone());
        assert_eq!(unreduced.dims(), [2, 2, 2]);
    }
    let loss = CrossEntropyLossConfig::new()
        .with_weight(Some(vec![1.0, 2.0]))
        .init::<B>(&ctx.device);
    let d = ctx.device.clone();
    assert_panics_with(&["CrossEntropyLoss", "3 classes", "`weight`"], move || {
        loss.forward_probs(
            Tensor::<B, 2>::zeros([4, 3], &d),
            Tensor::<B, 2>::zeros([4, 3], &d),
        )
    });
    let loss = CrossEntropyLossConfig::new().init::<B>(&ctx.device);
    let d = ctx.device.clone();
    assert_panics_with(&["CrossEntropyLoss", "[4, 3]", "[4, 2]"], move || {
        loss.forward_probs(
            Tensor::<B, 2>::zeros([4, 3], &d),
            Tensor::<B, 2>::zeros([4, 2], &d),
        )
    });
}

/// `forward_no_reduction` is `Reduction::None`, shaped like the targets.
fn no_reduction_shape<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = float_tensor::<B, 4>(
        &pseudo_random(2 * 3 * 4 * 5, 1, 3.0),
        &[2, 3, 4, 5],
        &ctx.device,
    );
    let y = int_tensor::<B, 3>(&[0., 1., 2., 1.].repeat(10), &[2, 4, 5], &ctx.device);
    let config = CrossEntropyLossConfig::new().with_label_smoothing(0.2);
    let per_element = config
        .init::<B>(&ctx.device)
        .forward_no_reduction(x.clone(), y.clone());
    assert_eq!(per_element.dims(), [2, 4, 5]);
    let none = config
        .with_reduction(Reduction::None)
        .init::<B>(&ctx.device)
        .forward(x, y);
    assert_eq!(values(none), values(per_element));
}

/// `[N, C, H, W]` equals the same elements laid out as `[N·H·W, C]`.
fn k_dim_equals_flattened<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = float_tensor::<B, 4>(
        &pseudo_random(2 * 3 * 2 * 2, 2, 4.0),
        &[2, 3, 2, 2],
        &ctx.device,
    );
    let y_values = [0., 2., 1., -100., 2., 2., 0., 1.];
    let y = int_tensor::<B, 3>(&y_values, &[2, 2, 2], &ctx.device);
    let loss = CrossEntropyLossConfig::new()
        .with_weight(Some(vec![0.5, 2.0, 1.0]))
        .with_label_smoothing(0.1)
        .init::<B>(&ctx.device);
    let flat_x = x.clone().permute([0, 2, 3, 1]).reshape([8, 3]);
    let flat_y = int_tensor::<B, 1>(&y_values, &[8], &ctx.device);
    assert_close(
        "K-dim vs flattened",
        &values(loss.forward(x, y)),
        &values(loss.forward(flat_x, flat_y)),
        ctx.tol,
    );
}

/// All targets ignored (or zero total weight): loss 0 and zero gradient (PyTorch: NaN).
fn all_ignored_is_zero<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = float_tensor::<B, 2>(&pseudo_random(12, 3, 2.0), &[4, 3], &ctx.device);
    for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
        for smoothing in [0.0, 0.3] {
            let loss = CrossEntropyLossConfig::new()
                .with_reduction(reduction)
                .with_label_smoothing(smoothing)
                .with_weight(Some(vec![1.0, 2.0, 3.0]))
                .init::<B>(&ctx.device);
            let y = int_tensor::<B, 1>(&[-100.; 4], &[4], &ctx.device);
            assert_zero_loss_and_grad(ctx, "all ignored", x.clone(), |x| loss.forward(x, y));
        }
    }
    // Every present class has weight 0: the weighted mean has nothing to average.
    let loss = CrossEntropyLossConfig::new()
        .with_weight(Some(vec![0.0, 0.0, 1.0]))
        .init::<B>(&ctx.device);
    let y = int_tensor::<B, 1>(&[0., 1., 1., 0.], &[4], &ctx.device);
    assert_zero_loss_and_grad(ctx, "zero total weight", x, |x| loss.forward(x, y));
}

/// Huge logits (±1e4) give finite values and gradients for every option.
fn huge_logits_finite<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x: Vec<f64> = pseudo_random(24, 4, 1.0)
        .iter()
        .map(|v| v.signum() * 1e4)
        .collect();
    let y = int_tensor::<B, 1>(&[0., 1., 2., 3., 0., 1.], &[6], &ctx.device);
    let loss = CrossEntropyLossConfig::new()
        .with_weight(Some(vec![1.0, 0.5, 2.0, 1.0]))
        .with_label_smoothing(0.2)
        .init::<B>(&ctx.device);
    let x = float_tensor::<B, 2>(&x, &[6, 4], &ctx.device).require_grad();
    let out = loss.forward(x.clone(), y);
    let grads = out.clone().backward();
    assert!(values(out).iter().all(|v| v.is_finite()));
    assert!(
        values(x.grad(&grads).unwrap())
            .iter()
            .all(|v| v.is_finite())
    );
}

/// Autodiff gradient = finite differences, with every option on, K-dim.
fn finite_differences<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(2 * 3 * 4, 5, 2.0);
    let y = int_tensor::<B, 2>(&[0., 2., 1., -100., 1., 1., 0., 2.], &[2, 4], &ctx.device);
    for reduction in [Reduction::Mean, Reduction::Sum] {
        let loss = CrossEntropyLossConfig::new()
            .with_weight(Some(vec![0.7, 1.5, 1.0]))
            .with_label_smoothing(0.15)
            .with_reduction(reduction)
            .init::<B>(&ctx.device);
        finite_difference_check::<B, 3>(ctx, "cross-entropy", &x, &[2, 3, 4], |x| {
            loss.forward(x, y.clone())
        });
    }
}

/// Out-of-range targets: a panic naming the value and C; with the check off, ignored.
fn target_out_of_range<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = float_tensor::<B, 2>(&pseudo_random(9, 6, 2.0), &[3, 3], &ctx.device);
    let bad = int_tensor::<B, 1>(&[0., 7., -100.], &[3], &ctx.device);
    let loss = CrossEntropyLossConfig::new().init::<B>(&ctx.device);
    let (xc, bc) = (x.clone(), bad.clone());
    assert_panics_with(
        &["CrossEntropyLoss", "target value 7", "3 classes"],
        move || loss.forward(xc, bc),
    );
    let negative = int_tensor::<B, 1>(&[0., -1., 1.], &[3], &ctx.device);
    let loss = CrossEntropyLossConfig::new().init::<B>(&ctx.device);
    let xc = x.clone();
    assert_panics_with(&["target value -1"], move || loss.forward(xc, negative));

    let unchecked = CrossEntropyLossConfig::new()
        .with_check_targets(false)
        .init::<B>(&ctx.device)
        .forward(x.clone(), bad);
    let ignored = int_tensor::<B, 1>(&[0., -100., -100.], &[3], &ctx.device);
    let reference = CrossEntropyLossConfig::new()
        .init::<B>(&ctx.device)
        .forward(x, ignored);
    assert_eq!(values(unchecked), values(reference));
}

/// Shape, rank and weight-length errors name the loss and the shapes.
fn shape_errors<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let device = ctx.device.clone();
    let x = Tensor::<B, 3>::zeros([2, 3, 4], &device);
    let loss = CrossEntropyLossConfig::new().init::<B>(&device);
    let (xc, d) = (x.clone(), device.clone());
    assert_panics_with(&["CrossEntropyLoss", "[2, 4]", "[2, 5]"], move || {
        loss.forward(xc, Tensor::<B, 2, Int>::zeros([2, 5], &d))
    });
    let loss = CrossEntropyLossConfig::new().init::<B>(&device);
    let (xc, d) = (x.clone(), device.clone());
    assert_panics_with(&["CrossEntropyLoss", "[2, 4]", "[2]"], move || {
        loss.forward(xc, Tensor::<B, 1, Int>::zeros([2], &d))
    });
    let loss = CrossEntropyLossConfig::new().init::<B>(&device);
    let d = device.clone();
    assert_panics_with(&["CrossEntropyLoss", "rank 1"], move || {
        loss.forward(
            Tensor::<B, 1>::zeros([3], &d),
            Tensor::<B, 1, Int>::zeros([3], &d),
        )
    });
    let loss = CrossEntropyLossConfig::new()
        .with_weight(Some(vec![1.0, 1.0]))
        .init::<B>(&device);
    assert_panics_with(
        &["CrossEntropyLoss", "3 classes", "`weight`", "2"],
        move || loss.forward(x, Tensor::<B, 2, Int>::zeros([2, 4], &device)),
    );
}

backend_tests!(
    pytorch_probability_fixtures,
    probs_of_one_hot_equal_indices,
    pytorch_fixtures,
    no_reduction_shape,
    k_dim_equals_flattened,
    all_ignored_is_zero,
    huge_logits_finite,
    finite_differences,
    target_out_of_range,
    shape_errors,
);
