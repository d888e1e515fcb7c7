//! `PatchConv` and `UpConv` compute the same function as Burn's `Conv2d` and `ConvTranspose2d`
//! given the same weights, in values and in gradients, with either `ConvImpl`.

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use segmentation_demo::backend::TrainingBackend as B;
use segmentation_demo::model::{ConvImpl, PatchConv, UNetConfig, UpConv};

fn random(shape: [usize; 4], device: &burn::tensor::Device<B>) -> Tensor<B, 4> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// `(output, ∂(Σ output·r)/∂input)` of `layer` at `x`.
fn value_and_input_grad(
    layer: impl Fn(Tensor<B, 4>) -> Tensor<B, 4>,
    x: &Tensor<B, 4>,
    r: &Tensor<B, 4>,
) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let x = x.clone().detach().require_grad();
    let y = layer(x.clone());
    let grads = (y.clone() * r.clone()).sum().backward();
    let gx = x.grad(&grads).expect("input gradient");
    (y, Tensor::from_inner(gx))
}

fn assert_close(a: Tensor<B, 4>, b: Tensor<B, 4>, what: &str) {
    let worst = (a.clone() - b).abs().max().into_scalar();
    let scale = a.abs().max().into_scalar().max(1.0);
    // f32 sums of up to 3·3·C products in a different order.
    assert!(worst <= 1e-5 * scale, "{what}: max difference {worst}");
}

#[test]
fn patch_conv_is_burn_conv2d() {
    let device = Default::default();
    B::seed(&device, 11);
    for (c_in, c_out, k, bias) in [(3, 5, 3, false), (4, 2, 1, true), (2, 3, 3, true)] {
        let ours = PatchConv::<B>::new(c_in, c_out, k, bias, &device);
        let mut burn = Conv2dConfig::new([c_in, c_out], [k, k])
            .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
            .with_bias(bias)
            .init::<B>(&device);
        burn.weight = Param::from_tensor(ours.conv_weight().detach());
        burn.bias = ours.bias().map(|b| Param::from_tensor(b.detach()));
        let x = random([2, c_in, 7, 5], &device);
        let r = random([2, c_out, 7, 5], &device);
        let (y_burn, g_burn) = value_and_input_grad(|x| burn.forward(x), &x, &r);
        for conv_impl in [ConvImpl::Matmul, ConvImpl::Native] {
            let layer = ours.clone().with_impl(conv_impl);
            let (y, g) = value_and_input_grad(|x| layer.forward(x), &x, &r);
            let what = format!("{conv_impl:?} {c_in}->{c_out} k{k}");
            assert_close(y, y_burn.clone(), &format!("{what} value"));
            assert_close(g, g_burn.clone(), &format!("{what} gradient"));
        }
    }
}

#[test]
fn up_conv_is_burn_conv_transpose2d() {
    let device = Default::default();
    B::seed(&device, 12);
    for (c_in, c_out) in [(6, 3), (2, 4)] {
        let ours = UpConv::<B>::new(c_in, c_out, &device);
        let mut burn = ConvTranspose2dConfig::new([c_in, c_out], [2, 2])
            .with_stride([2, 2])
            .init::<B>(&device);
        burn.weight = Param::from_tensor(ours.conv_weight().detach());
        burn.bias = Some(Param::from_tensor(ours.bias().detach()));
        let x = random([2, c_in, 3, 4], &device);
        let r = random([2, c_out, 6, 8], &device);
        let (y_burn, g_burn) = value_and_input_grad(|x| burn.forward(x), &x, &r);
        assert_eq!(y_burn.dims(), [2, c_out, 6, 8]);
        for conv_impl in [ConvImpl::Matmul, ConvImpl::Native] {
            let layer = ours.clone().with_impl(conv_impl);
            let (y, g) = value_and_input_grad(|x| layer.forward(x), &x, &r);
            let what = format!("{conv_impl:?} {c_in}->{c_out}");
            assert_close(y, y_burn.clone(), &format!("{what} value"));
            assert_close(g, g_burn.clone(), &format!("{what} gradient"));
        }
    }
}

#[test]
fn a_model_trained_with_one_impl_runs_with_the_other() {
    let device = Default::default();
    B::seed(&device, 13);
    let config = UNetConfig::new(3).with_base_width(2);
    let trained = config.init::<B>(&device);
    // Burn initialises parameters lazily, and a clone of an uninitialised parameter draws its
    // own values: one forward pass fixes them before the model is copied.
    let _ = trained.forward(random([1, 3, 8, 8], &device));
    let matmul = config
        .init::<B>(&device)
        .load_record(trained.clone().into_record());
    let native = config
        .clone()
        .with_conv(ConvImpl::Native)
        .init::<B>(&device)
        .load_record(trained.into_record());
    let x = random([2, 3, 16, 8], &device);
    assert_close(matmul.forward(x.clone()), native.forward(x), "U-Net logits");
}
