use burn::config::Config;
use burn_losses::*;

fn round_trip<C: Config + std::fmt::Debug>(config: &C) -> C {
    let json = serde_json::to_string(config).expect("serialise");
    serde_json::from_str(&json).expect("deserialise")
}

#[test]
fn configs_round_trip_through_json() {
    let ce = CrossEntropyLossConfig::new()
        .with_weight(Some(vec![0.5, 2.0]))
        .with_ignore_index(255)
        .with_reduction(Reduction::Sum)
        .with_label_smoothing(0.1)
        .with_check_targets(false);
    assert_eq!(format!("{:?}", round_trip(&ce)), format!("{ce:?}"));
    let focal = FocalLossConfig::new(3)
        .with_alpha(Some(vec![0.1, 0.2, 0.7]))
        .with_gamma(0.5)
        .with_reduction(Reduction::None);
    assert_eq!(format!("{:?}", round_trip(&focal)), format!("{focal:?}"));
    let binary_focal = BinaryFocalLossConfig::new()
        .with_alpha(None)
        .with_gamma(1.0);
    assert_eq!(
        format!("{:?}", round_trip(&binary_focal)),
        format!("{binary_focal:?}")
    );
    let binary_dice = BinaryDiceLossConfig::new().with_smooth(1e-5).with_p(1.0);
    assert_eq!(
        format!("{:?}", round_trip(&binary_dice)),
        format!("{binary_dice:?}")
    );
    let dice = DiceLossConfig::new()
        .with_weight(Some(vec![1.0, 3.0]))
        .with_ignore_index(Some(0))
        .with_reduction(Reduction::Sum);
    assert_eq!(format!("{:?}", round_trip(&dice)), format!("{dice:?}"));
    let dice_options = DiceLossConfig::new()
        .with_activation(Activation::Sigmoid)
        .with_include_background(false)
        .with_batch(true)
        .with_jaccard(true)
        .with_smooth_nr(Some(0.0))
        .with_smooth_dr(Some(1e-5))
        .with_empty_class(EmptyClass::Exclude);
    assert_eq!(
        format!("{:?}", round_trip(&dice_options)),
        format!("{dice_options:?}")
    );
    let tversky = TverskyLossConfig::new()
        .with_alpha(0.3)
        .with_gamma(0.75)
        .with_ignore_index(Some(0))
        .with_weight(Some(vec![1.0, 2.0]))
        .with_empty_class(EmptyClass::Zero);
    assert_eq!(
        format!("{:?}", round_trip(&tversky)),
        format!("{tversky:?}")
    );
    let generalized = GeneralizedDiceLossConfig::new()
        .with_weight_type(GeneralizedDiceWeight::Uniform)
        .with_activation(Activation::None);
    assert_eq!(
        format!("{:?}", round_trip(&generalized)),
        format!("{generalized:?}")
    );
    let bce = BceWithLogitsLossConfig::new()
        .with_pos_weight(Some(vec![2.0]))
        .with_ignore_value(Some(255.0));
    assert_eq!(format!("{:?}", round_trip(&bce)), format!("{bce:?}"));
    let dice_ce = DiceCeLossConfig::new()
        .with_dice(dice_options)
        .with_cross_entropy(ce)
        .with_lambda_ce(0.5);
    assert_eq!(
        format!("{:?}", round_trip(&dice_ce)),
        format!("{dice_ce:?}")
    );
    let dice_focal = DiceFocalLossConfig::new(focal).with_lambda_dice(2.0);
    assert_eq!(
        format!("{:?}", round_trip(&dice_focal)),
        format!("{dice_focal:?}")
    );
    let lovasz = LovaszSoftmaxLossConfig::new()
        .with_classes(LovaszClasses::All)
        .with_per_image(true);
    assert_eq!(format!("{:?}", round_trip(&lovasz)), format!("{lovasz:?}"));
    let hinge = LovaszHingeLossConfig::new().with_ignore_value(Some(-1.0));
    assert_eq!(format!("{:?}", round_trip(&hinge)), format!("{hinge:?}"));
}

#[test]
fn new_options_default_to_the_old_behaviour() {
    let dice = DiceLossConfig::new();
    assert_eq!(
        (
            dice.activation,
            dice.include_background,
            dice.batch,
            dice.jaccard,
            dice.smooth_nr,
            dice.smooth_dr,
            dice.empty_class
        ),
        (
            Activation::Softmax,
            true,
            false,
            false,
            None,
            None,
            EmptyClass::Keep
        )
    );
    let binary = BinaryDiceLossConfig::new();
    assert_eq!(
        (
            binary.activation,
            binary.batch,
            binary.jaccard,
            binary.empty_class
        ),
        (Activation::None, false, false, EmptyClass::Keep)
    );
    let tversky = TverskyLossConfig::new();
    assert_eq!(
        (
            tversky.alpha,
            tversky.beta,
            tversky.gamma,
            tversky.smooth_nr,
            tversky.smooth_dr
        ),
        (0.5, 0.5, 1.0, 1e-5, 1e-5)
    );
    let generalized = GeneralizedDiceLossConfig::new();
    assert_eq!(generalized.weight_type, GeneralizedDiceWeight::Square);
    let lovasz = LovaszSoftmaxLossConfig::new();
    assert_eq!(
        (lovasz.classes, lovasz.per_image, lovasz.ignore_index),
        (LovaszClasses::Present, false, -100)
    );
}

#[test]
fn defaults_are_pytorch_s() {
    let ce = CrossEntropyLossConfig::new();
    assert_eq!(
        (ce.weight, ce.ignore_index, ce.reduction, ce.label_smoothing),
        (None, -100, Reduction::Mean, 0.0)
    );
    assert!(ce.check_targets);
    let focal = FocalLossConfig::new(2);
    assert_eq!(
        (focal.alpha, focal.gamma, focal.ignore_index),
        (None, 2.0, -100)
    );
    let bf = BinaryFocalLossConfig::new();
    assert_eq!(
        (bf.alpha, bf.gamma, bf.reduction),
        (Some(0.25), 2.0, Reduction::Mean)
    );
    let dice = DiceLossConfig::new();
    assert_eq!(
        (dice.weight, dice.ignore_index, dice.smooth, dice.p),
        (None, None, 1.0, 2.0)
    );
}

fn invalid(err: LossConfigError, needles: &[&str]) {
    let message = err.to_string();
    for needle in needles {
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
}

#[test]
fn every_invalid_hyperparameter_is_reported() {
    let e = |r: Result<(), LossConfigError>| r.expect_err("invalid config accepted");
    invalid(
        e(CrossEntropyLossConfig::new()
            .with_label_smoothing(1.5)
            .validate()),
        &["CrossEntropyLoss", "label_smoothing", "1.5"],
    );
    invalid(
        e(CrossEntropyLossConfig::new()
            .with_label_smoothing(-0.1)
            .validate()),
        &["label_smoothing"],
    );
    invalid(
        e(CrossEntropyLossConfig::new()
            .with_weight(Some(vec![1.0, -2.0]))
            .validate()),
        &["CrossEntropyLoss", "weight[1]", "-2"],
    );
    invalid(
        e(CrossEntropyLossConfig::new()
            .with_weight(Some(vec![f32::NAN]))
            .validate()),
        &["weight[0]", "NaN"],
    );
    invalid(
        e(FocalLossConfig::new(3)
            .with_alpha(Some(vec![1.0, 1.0]))
            .validate()),
        &["FocalLoss", "alpha", "3", "2"],
    );
    invalid(
        e(FocalLossConfig::new(2)
            .with_alpha(Some(vec![1.0, f32::INFINITY]))
            .validate()),
        &["alpha[1]", "inf"],
    );
    invalid(
        e(FocalLossConfig::new(2).with_gamma(-1.0).validate()),
        &["FocalLoss", "gamma", "-1"],
    );
    invalid(
        e(FocalLossConfig::new(0).validate()),
        &["FocalLoss", "num_classes"],
    );
    invalid(
        e(BinaryFocalLossConfig::new()
            .with_alpha(Some(1.5))
            .validate()),
        &["BinaryFocalLoss", "alpha", "1.5"],
    );
    invalid(
        e(BinaryFocalLossConfig::new().with_gamma(f32::NAN).validate()),
        &["BinaryFocalLoss", "gamma"],
    );
    invalid(
        e(BinaryDiceLossConfig::new().with_p(0.0).validate()),
        &["BinaryDiceLoss", "p", "0"],
    );
    invalid(
        e(BinaryDiceLossConfig::new().with_smooth(-1.0).validate()),
        &["BinaryDiceLoss", "smooth", "-1"],
    );
    invalid(
        e(DiceLossConfig::new()
            .with_weight(Some(vec![-1.0]))
            .validate()),
        &["DiceLoss", "weight[0]"],
    );
    invalid(
        e(DiceLossConfig::new().with_p(-2.0).validate()),
        &["DiceLoss", "p"],
    );
}

#[test]
fn compound_and_lovasz_modules_display_their_parts() {
    type B = burn_losses_conformance::NdArrayBackend;
    let device = Default::default();
    let dice_ce = format!(
        "{}",
        DiceCeLossConfig::new()
            .with_lambda_ce(0.25)
            .init::<B>(&device)
    );
    assert!(
        dice_ce.starts_with("DiceCeLoss")
            && dice_ce.contains("0.25")
            && dice_ce.contains("DiceLoss")
            && dice_ce.contains("CrossEntropyLoss"),
        "{dice_ce}"
    );
    let dice_focal = format!(
        "{}",
        DiceFocalLossConfig::new(FocalLossConfig::new(2)).init::<B>(&device)
    );
    assert!(dice_focal.contains("FocalLoss"), "{dice_focal}");
    let lovasz = format!(
        "{}",
        LovaszSoftmaxLossConfig::new()
            .with_classes(LovaszClasses::All)
            .init::<B>(&device)
    );
    assert!(
        lovasz.starts_with("LovaszSoftmaxLoss") && lovasz.contains("All"),
        "{lovasz}"
    );
    let hinge = format!(
        "{}",
        LovaszHingeLossConfig::new()
            .with_per_image(true)
            .init::<B>(&device)
    );
    assert!(
        hinge.starts_with("LovaszHingeLoss") && hinge.contains("true"),
        "{hinge}"
    );
}

#[test]
#[should_panic(expected = "FocalLoss: `gamma` must be finite and >= 0, got -1")]
fn init_panics_with_the_validation_message() {
    let device = Default::default();
    FocalLossConfig::new(2)
        .with_gamma(-1.0)
        .init::<burn_losses_conformance::NdArrayBackend>(&device);
}

#[test]
fn modules_display_their_options() {
    type B = burn_losses_conformance::NdArrayBackend;
    let device = Default::default();
    let shown = [
        format!(
            "{}",
            CrossEntropyLossConfig::new()
                .with_label_smoothing(0.5)
                .init::<B>(&device)
        ),
        format!(
            "{}",
            FocalLossConfig::new(3).with_gamma(0.5).init::<B>(&device)
        ),
        format!(
            "{}",
            BinaryFocalLossConfig::new()
                .with_gamma(0.5)
                .init::<B>(&device)
        ),
        format!(
            "{}",
            BinaryDiceLossConfig::new().with_p(0.5).init::<B>(&device)
        ),
        format!("{}", DiceLossConfig::new().with_p(0.5).init::<B>(&device)),
        format!(
            "{}",
            TverskyLossConfig::new().with_alpha(0.5).init::<B>(&device)
        ),
        format!(
            "{}",
            GeneralizedDiceLossConfig::new()
                .with_smooth_nr(0.5)
                .init::<B>(&device)
        ),
        format!(
            "{}",
            BceWithLogitsLossConfig::new()
                .with_label_smoothing(0.5)
                .init::<B>(&device)
        ),
    ];
    for (text, name) in shown.iter().zip([
        "CrossEntropyLoss",
        "FocalLoss",
        "BinaryFocalLoss",
        "BinaryDiceLoss",
        "DiceLoss",
        "TverskyLoss",
        "GeneralizedDiceLoss",
        "BceWithLogitsLoss",
    ]) {
        println!("{text}");
        assert!(
            text.starts_with(name) && text.contains("0.5") && text.contains("reduction: Mean"),
            "{text}"
        );
    }
}
