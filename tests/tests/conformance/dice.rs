use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn_losses::{Activation, DiceLossConfig, EmptyClass, Reduction, one_hot};
use burn_losses_conformance::*;

fn fixture<B: AutodiffBackend, const D: usize, const K: usize>(ctx: &Ctx<B>, case: &Case) {
    let loss = case
        .config_over(&DiceLossConfig::new())
        .init::<B>(&ctx.device);
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

/// Values and gradients equal MONAI's, smp's and kornia's Dice and Jaccard losses with every
/// option: activations, `include_background`, `batch`, `jaccard`, separate smoothing, empty
/// classes under each policy, ignored pixels, ±1e4 logits, 3-D to 5-D.
fn reference_options<B: AutodiffBackend>(ctx: &Ctx<B>) {
    for case in load_fixtures("dice_options") {
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

/// Pooling over the batch equals scoring the batch laid side by side as one sample.
fn batch_equals_one_big_sample<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(2 * 3 * 5, 16, 3.0);
    let labels = [0., 2., 1., 1., 0., 2., 2., 255., 1., 0.];
    let config = DiceLossConfig::new()
        .with_weight(Some(vec![0.5, 1.0, 2.0]))
        .with_include_background(false)
        .with_p(1.0);
    let batched = config.clone().with_batch(true).init::<B>(&ctx.device);
    let single = config.init::<B>(&ctx.device);
    let xt = float_tensor::<B, 3>(&x, &[2, 3, 5], &ctx.device);
    let y = int_tensor::<B, 2>(&labels, &[2, 5], &ctx.device);
    // [N, C, S] -> [1, C, N·S], pixels of sample 0 first.
    let side_by_side = xt.clone().swap_dims(0, 1).reshape([1, 3, 10]);
    let y_side = y.clone().reshape([1, 10]);
    assert_close(
        "batch vs one sample",
        &values(batched.forward_indices(xt, y)),
        &values(single.forward_indices(side_by_side, y_side)),
        ctx.tol,
    );
}

/// Without smoothing the Jaccard score is `D / (2 − D)` of the Dice score `D`.
fn jaccard_is_a_function_of_dice<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = float_tensor::<B, 3>(&pseudo_random(2 * 3 * 6, 17, 2.0), &[2, 3, 6], &ctx.device);
    let y = int_tensor::<B, 2>(
        &[0., 1., 2., 2., 1., 0., 1., 1., 0., 2., 2., 2.],
        &[2, 6],
        &ctx.device,
    );
    let config = DiceLossConfig::new()
        .with_smooth(0.0)
        .with_reduction(Reduction::None);
    // One class at a time, so the class mean does not mix the scores.
    for class in 0..3 {
        let weight: Vec<f32> = (0..3).map(|c| f32::from(u8::from(c == class))).collect();
        let dice = config
            .clone()
            .with_weight(Some(weight.clone()))
            .init::<B>(&ctx.device);
        let jaccard = config
            .clone()
            .with_weight(Some(weight))
            .with_jaccard(true)
            .init::<B>(&ctx.device);
        let d: Vec<f64> = values(dice.forward_indices(x.clone(), y.clone()))
            .iter()
            .map(|l| 1.0 - 3.0 * l)
            .collect();
        let expected: Vec<f64> = d.iter().map(|d| 1.0 - d / (2.0 - d)).collect();
        let actual: Vec<f64> = values(jaccard.forward_indices(x.clone(), y.clone()))
            .iter()
            .map(|l| 3.0 * l)
            .collect();
        assert_close(
            &format!("jaccard of class {class}"),
            &actual,
            &expected,
            ctx.tol,
        );
    }
}

/// With every class present, the three empty-class policies agree; with classes absent,
/// `Zero` and `Exclude` give those classes no gradient, and a sample with no class present
/// scores 0 under `Exclude`.
fn empty_class_policies<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(2 * 3 * 4, 18, 2.0);
    let all_present = int_tensor::<B, 2>(&[0., 1., 2., 0., 2., 1., 0., 1.], &[2, 4], &ctx.device);
    let policies = [EmptyClass::Keep, EmptyClass::Zero, EmptyClass::Exclude];
    let results: Vec<Vec<f64>> = policies
        .iter()
        .map(|&empty| {
            let loss = DiceLossConfig::new()
                .with_empty_class(empty)
                .with_reduction(Reduction::None)
                .init::<B>(&ctx.device);
            values(loss.forward_indices(
                float_tensor::<B, 3>(&x, &[2, 3, 4], &ctx.device),
                all_present.clone(),
            ))
        })
        .collect();
    assert_close(
        "Zero = Keep when all present",
        &results[1],
        &results[0],
        ctx.tol,
    );
    assert_close(
        "Exclude = Keep when all present",
        &results[2],
        &results[0],
        ctx.tol,
    );

    // Sample 0 has only class 0, sample 1 only pixels ignored (255): under Exclude, sample 1
    // has no class left and scores 0 with zero gradient; under Zero, classes 1 and 2 of
    // sample 0 contribute nothing.
    let y = int_tensor::<B, 2>(
        &[0., 0., 0., 0., 255., 255., 255., 255.],
        &[2, 4],
        &ctx.device,
    );
    for empty in [EmptyClass::Zero, EmptyClass::Exclude] {
        let loss = DiceLossConfig::new()
            .with_empty_class(empty)
            .with_reduction(Reduction::None)
            .init::<B>(&ctx.device);
        let xt = float_tensor::<B, 3>(&x, &[2, 3, 4], &ctx.device).require_grad();
        let out = loss.forward_indices(xt.clone(), y.clone());
        let l = values(out.clone());
        assert_eq!(
            l[1], 0.0,
            "{empty:?}: a sample with no pixel scores 0, got {l:?}"
        );
        let grad = values(xt.grad(&out.sum().backward()).unwrap());
        assert!(
            grad[12..].iter().all(|&g| g == 0.0),
            "{empty:?}: sample 1 gradient {grad:?}"
        );
        let only_class_0 = DiceLossConfig::new()
            .with_weight(Some(vec![1.0, 0.0, 0.0]))
            .with_reduction(Reduction::None)
            .init::<B>(&ctx.device);
        let reference = values(
            only_class_0
                .forward_indices(float_tensor::<B, 3>(&x, &[2, 3, 4], &ctx.device), y.clone()),
        );
        // Zero: d0 / 3 (three classes counted); Exclude: d0 / 1.
        let scale = if empty == EmptyClass::Zero { 1.0 } else { 3.0 };
        assert_close(
            &format!("{empty:?} sample 0"),
            &[l[0]],
            &[reference[0] * scale],
            ctx.tol,
        );
    }
}

fn finite_differences_options<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let x = pseudo_random(2 * 3 * 4, 19, 2.0);
    let y = int_tensor::<B, 2>(&[0., 2., 1., 255., 1., 1., 0., 0.], &[2, 4], &ctx.device);
    for (activation, batch, jaccard, empty) in [
        (Activation::Softmax, true, true, EmptyClass::Exclude),
        (Activation::Sigmoid, false, true, EmptyClass::Zero),
        (Activation::Sigmoid, true, false, EmptyClass::Keep),
    ] {
        let loss = DiceLossConfig::new()
            .with_activation(activation)
            .with_batch(batch)
            .with_jaccard(jaccard)
            .with_empty_class(empty)
            .with_include_background(false)
            .with_smooth_nr(Some(0.1))
            .with_smooth_dr(Some(0.5))
            .with_weight(Some(vec![1.0, 2.0, 0.5]))
            .with_reduction(Reduction::Sum)
            .init::<B>(&ctx.device);
        finite_difference_check::<B, 3>(ctx, &format!("dice {loss}"), &x, &[2, 3, 4], |x| {
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
    let d = device.clone();
    assert_panics_with(
        &["DiceLoss", "Softmax", "2 channels", "[1, 1, 4]"],
        move || {
            loss.forward(
                Tensor::<B, 3>::zeros([1, 1, 4], &d),
                Tensor::<B, 3>::zeros([1, 1, 4], &d),
            )
        },
    );
    let loss = DiceLossConfig::new()
        .with_activation(Activation::Sigmoid)
        .with_include_background(false)
        .init::<B>(&device);
    let d = device.clone();
    assert_panics_with(
        &["DiceLoss", "include_background", "[1, 1, 4]"],
        move || {
            loss.forward(
                Tensor::<B, 3>::zeros([1, 1, 4], &d),
                Tensor::<B, 3>::zeros([1, 1, 4], &d),
            )
        },
    );
    let loss = DiceLossConfig::new()
        .with_include_background(false)
        .with_ignore_index(Some(1))
        .init::<B>(&device);
    let d = device.clone();
    assert_panics_with(&["DiceLoss", "no class left", "[1, 2, 4]"], move || {
        loss.forward_indices(
            Tensor::<B, 3>::zeros([1, 2, 4], &d),
            Tensor::<B, 2, Int>::zeros([1, 4], &d),
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
    reference_options,
    batch_equals_one_big_sample,
    jaccard_is_a_function_of_dice,
    empty_class_policies,
    finite_differences_options,
    indices_equal_one_hot,
    all_excluded_is_zero,
    finite_differences,
    errors,
);
