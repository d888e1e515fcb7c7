//! The class axis of the overlap losses: which classes count (`ignore_index`,
//! `include_background`), their weights, and the class mean under an [`EmptyClass`] policy.

use burn::tensor::{Tensor, backend::Backend};

use super::math::safe_div;
use crate::{Activation, EmptyClass, checks};

/// The included classes `I` of a loss and their weights, kept on the host until the generic
/// path asks for them as `[1, C]` rows (the fused step reads them as they are).
pub(crate) struct ClassSet<B: Backend> {
    /// `1` for an included class, `0` otherwise.
    mask: Vec<f32>,
    /// The loss's class weights `w_c` (`[C]`), if any.
    weight: Option<Tensor<B, 1>>,
    /// `|I|`.
    count: usize,
    device: B::Device,
}

impl<B: Backend> ClassSet<B> {
    /// The classes of an input of shape `dims` (`[N, C, ..]`) that a loss includes: all but the
    /// `ignore_index` channel and, unless `include_background`, channel 0.
    ///
    /// # Panics
    ///
    /// Naming `loss` and the shape: `weight` without `C` entries, `ignore_index >= C`,
    /// `Softmax` on one channel, `include_background = false` on one channel, no class left.
    pub fn new(
        loss: &str,
        dims: &[usize],
        activation: Activation,
        weight: Option<&Tensor<B, 1>>,
        ignore_index: Option<usize>,
        include_background: bool,
        device: &B::Device,
    ) -> Self {
        let num_classes = dims[1];
        assert!(
            activation != Activation::Softmax || num_classes > 1,
            "{loss}: activation Softmax needs at least 2 channels on axis 1, got shape {dims:?} \
             (use Sigmoid for a single binary channel)"
        );
        assert!(
            include_background || num_classes > 1,
            "{loss}: include_background = false leaves channel 0 out and needs at least 2 \
             channels on axis 1, got shape {dims:?}"
        );
        if let Some(ignored) = ignore_index {
            assert!(
                ignored < num_classes && num_classes > 1,
                "{loss}: ignore_index {ignored} must name one of the {num_classes} classes of \
                 the input (shape {dims:?}) and leave at least one class"
            );
        }
        let mask: Vec<f32> = (0..num_classes)
            .map(|c| {
                let left_out = Some(c) == ignore_index || (c == 0 && !include_background);
                if left_out { 0.0 } else { 1.0 }
            })
            .collect();
        let count = mask.iter().filter(|&&m| m > 0.0).count();
        assert!(
            count > 0,
            "{loss}: no class left: ignore_index {ignore_index:?} and include_background = \
             {include_background} leave out every channel of the input (shape {dims:?})"
        );
        if let Some(weight) = weight {
            let [len] = weight.dims();
            checks::class_count(loss, "weight", len, num_classes, dims);
        }
        Self {
            mask,
            weight: weight.cloned(),
            count,
            device: device.clone(),
        }
    }

    /// `1` for an included class, `0` otherwise, per class.
    pub fn mask(&self) -> &[f32] {
        &self.mask
    }

    /// The loss's class weights (`[C]`), if any; [`mean`](Self::mean) zeroes the excluded ones.
    pub fn weight(&self) -> Option<&Tensor<B, 1>> {
        self.weight.as_ref()
    }

    /// The mask as a `[1, C]` row.
    pub fn included(&self) -> Tensor<B, 2> {
        let num_classes = self.mask.len();
        Tensor::<B, 1>::from_floats(self.mask.as_slice(), &self.device).reshape([1, num_classes])
    }

    /// The per-row loss `[R]` from per-class losses `[R, C]`: the weighted class mean
    /// `(1/|I|)·Σ_{c∈I} w_c·l_c`, with the classes whose target sum is `0` treated by `empty`.
    pub fn mean(
        &self,
        losses: Tensor<B, 2>,
        target_sums: Tensor<B, 2>,
        empty: EmptyClass,
    ) -> Tensor<B, 1> {
        let included = self.included();
        let weight = match &self.weight {
            Some(weight) => weight.clone().reshape([1, self.mask.len()]) * included.clone(),
            None => included.clone(),
        };
        let mean = match empty {
            EmptyClass::Keep => (losses * weight).sum_dim(1).div_scalar(self.count as f32),
            EmptyClass::Zero => (losses.mask_fill(target_sums.equal_elem(0.0), 0.0) * weight)
                .sum_dim(1)
                .div_scalar(self.count as f32),
            EmptyClass::Exclude => {
                let present = target_sums.greater_elem(0.0).float() * included;
                let weighted = (losses * weight * present.clone()).sum_dim(1);
                safe_div(weighted, present.sum_dim(1))
            }
        };
        mean.flatten::<1>(0, 1)
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;

    use super::*;

    type B = NdArray<f32>;

    fn row(values: [f32; 3]) -> Tensor<B, 2> {
        Tensor::<B, 1>::from_floats(values, &Default::default()).reshape([1, 3])
    }

    fn mean(classes: &ClassSet<B>, losses: [f32; 3], sums: [f32; 3], empty: EmptyClass) -> f32 {
        classes.mean(row(losses), row(sums), empty).into_scalar()
    }

    #[test]
    fn class_mean_under_each_empty_class_policy() {
        let device = Default::default();
        let weight = Tensor::<B, 1>::from_floats([1.0, 2.0, 4.0], &device);
        // Channel 0 left out; class 2 empty (target sum 0).
        let classes = ClassSet::<B>::new(
            "Test",
            &[1, 3, 5],
            Activation::Softmax,
            Some(&weight),
            None,
            false,
            &device,
        );
        let losses = [0.5, 0.25, 0.75];
        let sums = [3.0, 2.0, 0.0];
        // Keep: (2·0.25 + 4·0.75) / 2; Zero: (2·0.25 + 0) / 2; Exclude: 2·0.25 / 1.
        assert_eq!(mean(&classes, losses, sums, EmptyClass::Keep), 1.75);
        assert_eq!(mean(&classes, losses, sums, EmptyClass::Zero), 0.25);
        assert_eq!(mean(&classes, losses, sums, EmptyClass::Exclude), 0.5);
        // Nothing present: Exclude scores 0.
        assert_eq!(mean(&classes, losses, [0.0; 3], EmptyClass::Exclude), 0.0);
    }

    #[test]
    #[should_panic(expected = "Test: no class left")]
    fn leaving_out_every_channel_panics() {
        let device = Default::default();
        ClassSet::<B>::new(
            "Test",
            &[1, 2, 5],
            Activation::Sigmoid,
            None,
            Some(1),
            false,
            &device,
        );
    }
}
