//! Every loss of burn-losses on a tiny batch, on `Autodiff<NdArray>`: prints the loss and the
//! L2 norm of its gradient with respect to the network output.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

use burn::backend::{Autodiff, NdArray};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use burn_losses::{
    BceWithLogitsLossConfig, BinaryDiceLossConfig, BinaryFocalLossConfig, CrossEntropyLossConfig,
    DiceCeLossConfig, DiceFocalLossConfig, DiceLossConfig, EmptyClass, FocalLossConfig,
    GeneralizedDiceLossConfig, LovaszHingeLossConfig, LovaszSoftmaxLossConfig, TverskyLossConfig,
    one_hot,
};

type B = Autodiff<NdArray<f32>>;

/// Prints `name: loss, |grad|` for a loss computed from `logits`.
fn report<const D: usize>(name: &str, logits: Tensor<B, D>, loss: Tensor<B, 1>) {
    let value: f32 = loss.clone().into_scalar();
    let grads = loss.backward();
    let grad = logits.grad(&grads).expect("logits take part in the loss");
    let norm: f32 = grad.square().sum().sqrt().into_scalar();
    println!("{name:<38} loss = {value:>9.6}   |d loss / d logits| = {norm:.6}");
}

fn main() {
    let device = Default::default();
    // A batch of 2 "images" of 3x3 pixels with 3 classes; 255 marks an unlabelled pixel.
    let logits = || {
        Tensor::<B, 4>::random(
            [2, 3, 3, 3],
            burn::tensor::Distribution::Normal(0.0, 2.0),
            &device,
        )
    };
    B::seed(&device, 7);
    let labels = Tensor::<B, 3, Int>::from_ints(
        [
            [[0, 0, 1], [0, 1, 1], [2, 2, 255]],
            [[2, 0, 0], [2, 1, 0], [2, 1, 1]],
        ],
        &device,
    );

    let x = logits().require_grad();
    let ce = CrossEntropyLossConfig::new()
        .with_weight(Some(vec![0.5, 1.0, 2.0]))
        .with_ignore_index(255)
        .with_label_smoothing(0.1)
        .init(&device);
    report(
        "cross-entropy (weight, ignore, smooth)",
        x.clone(),
        ce.forward(x, labels.clone()),
    );

    let x = logits().require_grad();
    let focal = FocalLossConfig::new(3)
        .with_alpha(Some(vec![0.25, 0.5, 1.0]))
        .with_gamma(2.0)
        .with_ignore_index(255)
        .init(&device);
    report(
        "focal (alpha, gamma = 2)",
        x.clone(),
        focal.forward(x, labels.clone()),
    );

    let x = logits().require_grad();
    let dice = DiceLossConfig::new()
        .with_ignore_index(Some(0))
        .init(&device);
    report(
        "dice (indices, background skipped)",
        x.clone(),
        dice.forward_indices(x, labels.clone()),
    );

    let x = logits().require_grad();
    let clean = labels.clone().clamp_max(2); // one_hot needs in-range labels for every pixel
    let targets: Tensor<B, 4> = one_hot(clean, 3);
    report(
        "dice (one-hot targets)",
        x.clone(),
        DiceLossConfig::new().init(&device).forward(x, targets),
    );

    let x = logits().require_grad();
    let smp_jaccard = DiceLossConfig::new()
        .with_jaccard(true)
        .with_batch(true)
        .with_p(1.0)
        .with_empty_class(EmptyClass::Zero)
        .init(&device);
    report(
        "jaccard (batch, p = 1, empty -> 0)",
        x.clone(),
        smp_jaccard.forward_indices(x, labels.clone()),
    );

    let x = logits().require_grad();
    let tversky = TverskyLossConfig::new()
        .with_alpha(0.3)
        .with_beta(0.7)
        .with_gamma(0.75)
        .init(&device);
    report(
        "focal tversky (0.3, 0.7, gamma 0.75)",
        x.clone(),
        tversky.forward_indices(x, labels.clone()),
    );

    let x = logits().require_grad();
    let generalized = GeneralizedDiceLossConfig::new().init(&device);
    report(
        "generalized dice (1 / T^2 weights)",
        x.clone(),
        generalized.forward_indices(x, labels.clone()),
    );

    let x = logits().require_grad();
    let dice_ce = DiceCeLossConfig::new()
        .with_cross_entropy(CrossEntropyLossConfig::new().with_ignore_index(255))
        .init(&device);
    report(
        "dice + cross-entropy (255 ignored)",
        x.clone(),
        dice_ce.forward_indices(x, labels.clone()),
    );

    let x = logits().require_grad();
    let dice_focal =
        DiceFocalLossConfig::new(FocalLossConfig::new(3).with_ignore_index(255)).init(&device);
    report(
        "dice + focal (255 ignored)",
        x.clone(),
        dice_focal.forward_indices(x, labels.clone()),
    );

    let x = logits().require_grad();
    let lovasz = LovaszSoftmaxLossConfig::new()
        .with_ignore_index(255)
        .init(&device);
    report(
        "lovasz softmax (present classes)",
        x.clone(),
        lovasz.forward(x, labels.clone()),
    );

    let x = logits().require_grad();
    let soft: Tensor<B, 4> = burn::tensor::activation::softmax(logits(), 1); // e.g. a teacher's
    report(
        "cross-entropy, soft targets",
        x.clone(),
        CrossEntropyLossConfig::new()
            .init(&device)
            .forward_probs(x, soft),
    );

    // Binary tasks: the foreground mask of class 1.
    let mask = labels.equal_elem(1).float();
    let x = Tensor::<B, 3>::random(
        [2, 3, 3],
        burn::tensor::Distribution::Normal(0.0, 2.0),
        &device,
    )
    .require_grad();
    let binary_focal = BinaryFocalLossConfig::new().init(&device);
    report(
        "binary focal (torchvision defaults)",
        x.clone(),
        binary_focal.forward(x, mask.clone()),
    );

    let x = Tensor::<B, 3>::random(
        [2, 3, 3],
        burn::tensor::Distribution::Normal(0.0, 2.0),
        &device,
    )
    .require_grad();
    let binary_dice = BinaryDiceLossConfig::new().init(&device);
    report(
        "binary dice (on sigmoid probabilities)",
        x.clone(),
        binary_dice.forward(sigmoid(x), mask.clone()),
    );

    let binary_logits = || {
        Tensor::<B, 3>::random(
            [2, 3, 3],
            burn::tensor::Distribution::Normal(0.0, 2.0),
            &device,
        )
        .require_grad()
    };
    let x = binary_logits();
    let bce = BceWithLogitsLossConfig::new()
        .with_label_smoothing(0.1)
        .init(&device);
    report(
        "bce with logits (smoothing 0.1)",
        x.clone(),
        bce.forward(x, mask.clone()),
    );

    let x = binary_logits();
    report(
        "lovasz hinge",
        x.clone(),
        LovaszHingeLossConfig::new().init(&device).forward(x, mask),
    );
}
