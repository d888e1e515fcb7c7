//! Empty inputs — no sample (`N = 0`), no class or no pixel (a zero-sized spatial axis) — stop
//! every loss and entry point with a message naming the loss and the shape, never an index
//! panic from inside a backend.

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn_losses::*;
use burn_losses_conformance::*;

/// Asserts that `f` panics naming `loss`, "no element" and the shape `dims`.
fn refuses<R: std::fmt::Debug>(loss: &str, dims: [usize; 3], f: impl FnOnce() -> R) {
    assert_panics_with(&[loss, "no element", &format!("{dims:?}")], f);
}

/// `[N, C, S]` logits with class-index targets `[N, S]` and same-shape float targets.
fn every_loss_refuses<B: AutodiffBackend>(ctx: &Ctx<B>, dims: [usize; 3]) {
    let [n, c, s] = dims;
    let d = ctx.device.clone();
    let x = || Tensor::<B, 3>::zeros(dims, &d);
    let y = || Tensor::<B, 2, Int>::zeros([n, s], &d);
    let t = || Tensor::<B, 3>::zeros(dims, &d);
    let ce = CrossEntropyLossConfig::new().init::<B>(&d);
    refuses("CrossEntropyLoss", dims, || ce.forward(x(), y()));
    refuses("CrossEntropyLoss", dims, || ce.forward_probs(x(), t()));
    let focal = FocalLossConfig::new(c.max(1)).init::<B>(&d);
    refuses("FocalLoss", dims, || focal.forward(x(), y()));
    let dice = DiceLossConfig::new().init::<B>(&d);
    refuses("DiceLoss", dims, || dice.forward_indices(x(), y()));
    refuses("DiceLoss", dims, || dice.forward(x(), t()));
    let tversky = TverskyLossConfig::new().init::<B>(&d);
    refuses("TverskyLoss", dims, || tversky.forward_indices(x(), y()));
    refuses("TverskyLoss", dims, || tversky.forward(x(), t()));
    let gdl = GeneralizedDiceLossConfig::new().init::<B>(&d);
    refuses("GeneralizedDiceLoss", dims, || {
        gdl.forward_indices(x(), y())
    });
    let bce = BceWithLogitsLossConfig::new().init::<B>(&d);
    refuses("BceWithLogitsLoss", dims, || bce.forward(x(), t()));
    let binary_focal = BinaryFocalLossConfig::new().init::<B>(&d);
    refuses("BinaryFocalLoss", dims, || binary_focal.forward(x(), t()));
    let binary_dice = BinaryDiceLossConfig::new().init::<B>(&d);
    refuses("BinaryDiceLoss", dims, || binary_dice.forward(x(), t()));
    // The compound losses stop in their first part.
    let dice_ce = DiceCeLossConfig::new().init::<B>(&d);
    refuses("DiceLoss", dims, || dice_ce.forward_indices(x(), y()));
    let lovasz = LovaszSoftmaxLossConfig::new().init::<B>(&d);
    refuses("LovaszSoftmaxLoss", dims, || lovasz.forward(x(), y()));
    let hinge = LovaszHingeLossConfig::new().init::<B>(&d);
    refuses("LovaszHingeLoss", dims, || hinge.forward(x(), t()));
}

fn no_sample<B: AutodiffBackend>(ctx: &Ctx<B>) {
    every_loss_refuses(ctx, [0, 3, 4]);
}

fn no_pixel<B: AutodiffBackend>(ctx: &Ctx<B>) {
    every_loss_refuses(ctx, [2, 3, 0]);
}

fn no_class<B: AutodiffBackend>(ctx: &Ctx<B>) {
    let d = ctx.device.clone();
    let dims = [2, 0, 4];
    let ce = CrossEntropyLossConfig::new().init::<B>(&d);
    refuses("CrossEntropyLoss", dims, || {
        ce.forward(
            Tensor::<B, 3>::zeros(dims, &d),
            Tensor::<B, 2, Int>::zeros([2, 4], &d),
        )
    });
    let dice = DiceLossConfig::new().init::<B>(&d);
    refuses("DiceLoss", dims, || {
        dice.forward(
            Tensor::<B, 3>::zeros(dims, &d),
            Tensor::<B, 3>::zeros(dims, &d),
        )
    });
}

backend_tests!(no_sample, no_pixel, no_class);
