//! The [`Batcher`] turning [`SegSample`]s into tensors.

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;

use super::SegSample;

/// A batch ready for the network.
#[derive(Clone, Debug)]
pub struct SegBatch<B: Backend> {
    /// Normalised images `[N, 3, H, W]` (values in `[-1, 1]`).
    pub images: Tensor<B, 4>,
    /// Class indices `[N, H, W]`; 255 = ignored pixel.
    pub masks: Tensor<B, 3, Int>,
}

/// Turns [`SegSample`]s into a [`SegBatch`].
#[derive(Clone, Debug, Default)]
pub struct SegBatcher;

/// 8-bit channel-major RGB images (each `3 × height × width`) as the network's input
/// `[N, 3, height, width]`, normalised from `0..=255` to `[-1, 1]`.
pub fn images_to_tensor<B: Backend>(
    images: &[&[u8]],
    [height, width]: [usize; 2],
    device: &B::Device,
) -> Tensor<B, 4> {
    let flat: Vec<f32> = images
        .iter()
        .flat_map(|img| img.iter().map(|&v| f32::from(v) / 127.5 - 1.0))
        .collect();
    Tensor::from_data(
        TensorData::new(flat, [images.len(), 3, height, width]),
        device,
    )
}

impl<B: Backend> Batcher<B, SegSample, SegBatch<B>> for SegBatcher {
    fn batch(&self, items: Vec<SegSample>, device: &B::Device) -> SegBatch<B> {
        let size = items[0].size;
        let images: Vec<&[u8]> = items.iter().map(|s| s.image.as_slice()).collect();
        let masks: Vec<i64> = items
            .iter()
            .flat_map(|s| s.mask.iter().map(|&m| i64::from(m)))
            .collect();
        SegBatch {
            images: images_to_tensor(&images, [size, size], device),
            masks: Tensor::from_data(TensorData::new(masks, [items.len(), size, size]), device),
        }
    }
}
