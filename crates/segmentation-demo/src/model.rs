//! A small U-Net: three down-sampling stages, a bottleneck, three up-sampling stages with skip
//! connections, and a 1×1 head producing per-pixel class logits `[N, C, H, W]`.
//!
//! With the default base width of 8 channels (stages of 8, 24, 48 and 96 channels) it has
//! about 265 thousand parameters. The input side
//! length must be a multiple of 8.

use burn::module::{Initializer, Param};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Relu};
use burn::prelude::*;
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, PadMode};
use serde::{Deserialize, Serialize};

/// How [`PatchConv`] and [`UpConv`] compute: the same function and the same parameters either
/// way (a test checks it), so a model trained with one runs with the other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvImpl {
    /// Patch extraction (or a reshuffle) plus one matrix multiplication: fast backward passes
    /// on every backend.
    #[default]
    Matmul,
    /// Burn's own `conv2d` / `conv_transpose2d` ops (what `burn::nn::conv::Conv2d` and
    /// `ConvTranspose2d` call).
    Native,
}

/// A `k × k` convolution (stride 1, "same" zero padding, odd `k`) computed as patch extraction plus one matrix multiplication.
///
/// Mathematically the same as `burn::nn::conv::Conv2d`; written this way because every piece
/// (pad, slice, concatenate, matmul) has a fast backward pass on every backend, while the
/// CPU (ndarray) backend's convolution backward pass is 10–20× slower than its forward pass.
/// With [`ConvImpl::Native`] it calls Burn's `conv2d` on the same parameters instead.
#[derive(Module, Debug)]
pub struct PatchConv<B: Backend> {
    /// Weight `[k·k·C_in, C_out]`, rows ordered (ky, kx, c_in).
    weight: Param<Tensor<B, 2>>,
    /// Optional bias `[C_out]`.
    bias: Option<Param<Tensor<B, 1>>>,
    kernel: usize,
    /// Compute with Burn's `conv2d` ([`ConvImpl::Native`]) instead of the matmul.
    native: bool,
}

fn kaiming() -> Initializer {
    // Burn's default for convolutions.
    Initializer::KaimingUniform {
        gain: 1.0 / 3.0f64.sqrt(),
        fan_out_only: false,
    }
}

impl<B: Backend> PatchConv<B> {
    /// A `kernel × kernel` convolution from `c_in` to `c_out` channels, computed as a matmul.
    pub fn new(c_in: usize, c_out: usize, kernel: usize, bias: bool, device: &B::Device) -> Self {
        assert!(
            kernel % 2 == 1,
            "PatchConv needs an odd kernel, got {kernel}"
        );
        let fan_in = kernel * kernel * c_in;
        Self {
            weight: kaiming().init_with([fan_in, c_out], Some(fan_in), Some(c_out), device),
            bias: bias.then(|| kaiming().init_with([c_out], Some(fan_in), Some(c_out), device)),
            kernel,
            native: false,
        }
    }

    /// The same layer computed by `conv_impl`.
    pub fn with_impl(mut self, conv_impl: ConvImpl) -> Self {
        self.native = conv_impl == ConvImpl::Native;
        self
    }

    /// The weight in `burn::nn::conv::Conv2d`'s layout `[C_out, C_in, k, k]`.
    pub fn conv_weight(&self) -> Tensor<B, 4> {
        let [rows, c_out] = self.weight.dims();
        let k = self.kernel;
        self.weight
            .val()
            .reshape([k, k, rows / (k * k), c_out])
            .permute([3, 2, 0, 1])
    }

    /// The bias, if any.
    pub fn bias(&self) -> Option<Tensor<B, 1>> {
        self.bias.as_ref().map(Param::val)
    }

    /// Number of output channels.
    pub fn out_channels(&self) -> usize {
        self.weight.dims()[1]
    }

    /// `[N, C_in, H, W] -> [N, C_out, H, W]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let k = self.kernel;
        if self.native {
            let p = k / 2;
            let options = ConvOptions::new([1, 1], [p, p], [1, 1], 1);
            return conv2d(x, self.conv_weight(), self.bias(), options);
        }
        let [n, c, h, w] = x.dims();
        let patches = if k == 1 {
            x
        } else {
            let p = k / 2;
            let padded = x.pad((p, p, p, p), PadMode::Constant(0.0));
            let mut slices = Vec::with_capacity(k * k);
            for dy in 0..k {
                for dx in 0..k {
                    slices.push(padded.clone().slice([0..n, 0..c, dy..dy + h, dx..dx + w]));
                }
            }
            Tensor::cat(slices, 1)
        };
        let rows = patches
            .permute([0, 2, 3, 1])
            .reshape([n * h * w, k * k * c]);
        let mut out = rows.matmul(self.weight.val());
        if let Some(bias) = &self.bias {
            out = out + bias.val().unsqueeze::<2>();
        }
        out.reshape([n, h, w, self.out_channels()])
            .permute([0, 3, 1, 2])
    }
}

/// A 2×2, stride-2 transposed convolution (doubles H and W) computed as
/// one matrix multiplication and a reshuffle, for the same reason as [`PatchConv`]; with
/// [`ConvImpl::Native`], Burn's `conv_transpose2d` on the same parameters.
#[derive(Module, Debug)]
pub struct UpConv<B: Backend> {
    /// Weight `[C_in, 2·2·C_out]`, columns ordered (ky, kx, c_out).
    weight: Param<Tensor<B, 2>>,
    /// Bias `[C_out]`.
    bias: Param<Tensor<B, 1>>,
    /// Compute with Burn's `conv_transpose2d` ([`ConvImpl::Native`]) instead of the matmul.
    native: bool,
}

impl<B: Backend> UpConv<B> {
    /// An up-sampling layer from `c_in` to `c_out` channels.
    pub fn new(c_in: usize, c_out: usize, device: &B::Device) -> Self {
        Self {
            weight: kaiming().init_with([c_in, 4 * c_out], Some(c_in), Some(4 * c_out), device),
            bias: kaiming().init_with([c_out], Some(c_in), Some(4 * c_out), device),
            native: false,
        }
    }

    /// The same layer computed by `conv_impl`.
    pub fn with_impl(mut self, conv_impl: ConvImpl) -> Self {
        self.native = conv_impl == ConvImpl::Native;
        self
    }

    /// The weight in `burn::nn::conv::ConvTranspose2d`'s layout `[C_in, C_out, 2, 2]`.
    pub fn conv_weight(&self) -> Tensor<B, 4> {
        let [c_in, cols] = self.weight.dims();
        self.weight
            .val()
            .reshape([c_in, 2, 2, cols / 4])
            .permute([0, 3, 1, 2])
    }

    /// The bias `[C_out]`.
    pub fn bias(&self) -> Tensor<B, 1> {
        self.bias.val()
    }

    /// `[N, C_in, H, W] -> [N, C_out, 2H, 2W]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        if self.native {
            let options = ConvTransposeOptions::new([2, 2], [0, 0], [0, 0], [1, 1], 1);
            return conv_transpose2d(x, self.conv_weight(), Some(self.bias()), options);
        }
        let [n, c, h, w] = x.dims();
        let c_out = self.bias.dims()[0];
        let out = x
            .permute([0, 2, 3, 1])
            .reshape([n * h * w, c])
            .matmul(self.weight.val())
            .reshape([n, h, w, 2, 2, c_out]);
        // [n, h, w, ky, kx, c] -> [n, c, h, ky, w, kx] -> [n, c, 2h, 2w]
        let out: Tensor<B, 6> = out.permute([0, 5, 1, 3, 2, 4]);
        out.reshape([n, c_out, 2 * h, 2 * w]) + self.bias.val().reshape([1, c_out, 1, 1])
    }
}

/// Configuration of [`UNet`].
#[derive(Config, Debug)]
pub struct UNetConfig {
    /// Number of output classes `C`.
    pub num_classes: usize,
    /// Channels of the first stage; see [`UNetConfig::widths`].
    #[config(default = 8)]
    pub base_width: usize,
    /// Input channels (3 for RGB).
    #[config(default = 3)]
    pub in_channels: usize,
    /// How the convolutions compute.
    #[config(default = "ConvImpl::Matmul")]
    pub conv: ConvImpl,
}

/// Two 3×3 convolutions, each followed by batch normalisation and ReLU.
#[derive(Module, Debug)]
pub struct ConvBlock<B: Backend> {
    conv1: PatchConv<B>,
    norm1: BatchNorm<B>,
    conv2: PatchConv<B>,
    norm2: BatchNorm<B>,
    relu: Relu,
}

impl<B: Backend> ConvBlock<B> {
    fn new(in_ch: usize, out_ch: usize, conv_impl: ConvImpl, device: &B::Device) -> Self {
        let conv = |i, o| PatchConv::new(i, o, 3, false, device).with_impl(conv_impl);
        Self {
            conv1: conv(in_ch, out_ch),
            norm1: BatchNormConfig::new(out_ch).init(device),
            conv2: conv(out_ch, out_ch),
            norm2: BatchNormConfig::new(out_ch).init(device),
            relu: Relu::new(),
        }
    }

    /// `[N, in, H, W] -> [N, out, H, W]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = self.relu.forward(self.norm1.forward(self.conv1.forward(x)));
        self.relu.forward(self.norm2.forward(self.conv2.forward(x)))
    }
}

/// The U-Net segmentation network.
#[derive(Module, Debug)]
pub struct UNet<B: Backend> {
    enc1: ConvBlock<B>,
    enc2: ConvBlock<B>,
    enc3: ConvBlock<B>,
    bottleneck: ConvBlock<B>,
    pool: MaxPool2d,
    up3: UpConv<B>,
    dec3: ConvBlock<B>,
    up2: UpConv<B>,
    dec2: ConvBlock<B>,
    up1: UpConv<B>,
    dec1: ConvBlock<B>,
    head: PatchConv<B>,
}

impl UNetConfig {
    /// Channels of the four stages: `w, 3w, 6w, 12w` for `base_width = w` (narrow at full
    /// resolution, where computing is expensive; wide in the cheap low-resolution stages).
    pub fn widths(&self) -> [usize; 4] {
        let w = self.base_width;
        [w, 3 * w, 6 * w, 12 * w]
    }

    /// Builds the network on `device` with freshly initialised weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> UNet<B> {
        let [c1, c2, c3, c4] = self.widths();
        let up = |i, o| UpConv::new(i, o, device).with_impl(self.conv);
        let block = |i, o| ConvBlock::new(i, o, self.conv, device);
        UNet {
            pool: MaxPool2dConfig::new([2, 2]).init(),
            enc1: block(self.in_channels, c1),
            enc2: block(c1, c2),
            enc3: block(c2, c3),
            bottleneck: block(c3, c4),
            up3: up(c4, c3),
            dec3: block(2 * c3, c3),
            up2: up(c3, c2),
            dec2: block(2 * c2, c2),
            up1: up(c2, c1),
            dec1: block(2 * c1, c1),
            head: PatchConv::new(c1, self.num_classes, 1, true, device).with_impl(self.conv),
        }
    }
}

impl<B: Backend> UNet<B> {
    /// Number of classes `C` the head predicts.
    pub fn num_classes(&self) -> usize {
        self.head.weight.dims()[1]
    }

    /// Images `[N, 3, H, W]` (H, W multiples of 8) to logits `[N, C, H, W]`.
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 4> {
        let e1 = self.enc1.forward(images);
        let e2 = self.enc2.forward(self.pool.forward(e1.clone()));
        let e3 = self.enc3.forward(self.pool.forward(e2.clone()));
        let b = self.bottleneck.forward(self.pool.forward(e3.clone()));
        let d3 = self
            .dec3
            .forward(Tensor::cat(vec![self.up3.forward(b), e3], 1));
        let d2 = self
            .dec2
            .forward(Tensor::cat(vec![self.up2.forward(d3), e2], 1));
        let d1 = self
            .dec1
            .forward(Tensor::cat(vec![self.up1.forward(d2), e1], 1));
        self.head.forward(d1)
    }
}
