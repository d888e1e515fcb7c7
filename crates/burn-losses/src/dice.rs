use burn::config::Config;
use burn::module::{Content, DisplaySettings, Module, ModuleDisplay};
use burn::tensor::activation::softmax;
use burn::tensor::{Int, Tensor, backend::Backend};

use crate::binary_dice::{dice_per_row, validate_dice};
use crate::display::one_line_display;
use crate::one_hot::one_hot;
use crate::reduction::reduce_unweighted;
use crate::tensor_ops::to_ncs;
use crate::{LossConfigError, Reduction, checks};

const LOSS: &str = "DiceLoss";

/// Configuration of a multi-class [`DiceLoss`].
///
/// ```
/// use burn_losses::DiceLossConfig;
///
/// // Skip the background channel 0 and weigh the rare class 2 up.
/// let config = DiceLossConfig::new()
///     .with_ignore_index(Some(0))
///     .with_weight(Some(vec![1.0, 1.0, 3.0]));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Config, Debug)]
pub struct DiceLossConfig {
    /// Weight `w[c] >= 0` of each class's Dice loss, `C` entries; `None` weighs every class 1.
    pub weight: Option<Vec<f32>>,
    /// A class channel left out of the loss (e.g. the background), if any.
    pub ignore_index: Option<usize>,
    /// Smoothing `s >= 0` (default `1`).
    #[config(default = 1.0)]
    pub smooth: f32,
    /// Power `p > 0` of the denominator sums (default `2`).
    #[config(default = 2.0)]
    pub p: f32,
    /// How per-sample losses are combined (default mean over the batch).
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl DiceLossConfig {
    /// Checks the hyperparameters: `weight` entries finite and `>= 0`, `smooth` finite and
    /// `>= 0`, `p` finite and `> 0`. (`weight` length and `ignore_index` against the number of
    /// classes are checked by `forward`.)
    pub fn validate(&self) -> Result<(), LossConfigError> {
        if let Some(weight) = &self.weight {
            checks::per_class_values(LOSS, "weight", weight)?;
        }
        validate_dice(LOSS, self.smooth, self.p)
    }

    /// Creates the loss on `device`.
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) if the configuration is invalid.
    pub fn init<B: Backend>(&self, device: &B::Device) -> DiceLoss<B> {
        if let Err(err) = self.validate() {
            panic!("{err}");
        }
        DiceLoss {
            weight: self
                .weight
                .as_ref()
                .map(|w| Tensor::from_floats(w.as_slice(), device)),
            ignore_index: self.ignore_index,
            smooth: self.smooth,
            p: self.p,
            reduction: self.reduction,
        }
    }
}

/// Multi-class Dice loss on logits: softmax over the class axis, then a
/// [binary Dice](crate::BinaryDiceLoss) per class and sample, weighted and averaged over the
/// included classes.
///
/// With `x = softmax(logits)` over axis 1, one-hot targets `y`, the set `I` of included classes
/// (all but `ignore_index`) and class weights `w` (all `1` if unset):
///
/// ```text
/// d[n, c] = 1 − (2·Σ x[n,c]·y[n,c] + s) / (Σ x[n,c]^p + Σ y[n,c]^p + s)
/// l[n]    = (1 / |I|) · Σ_{c ∈ I} w[c] · d[n, c]
/// ```
///
/// Per class this is MONAI's `DiceLoss(softmax=True, squared_pred=True, batch=False)` for
/// `p = 2`. Differences from the seed write-up: the numerator has the standard factor `2`; the
/// average divides by the number of *included* classes `|I|` (the seed divided by all `C` even
/// when one was skipped, and crashed on `self.weights` when a weight was set).
/// `Mean` averages `l` over the batch, `Sum` sums, `None` returns `[N]`.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::{Int, Tensor};
/// use burn_losses::DiceLossConfig;
///
/// let device = Default::default();
/// let loss = DiceLossConfig::new().init::<NdArray>(&device);
/// let logits = Tensor::<NdArray, 4>::zeros([2, 3, 8, 8], &device);
/// // Class indices; 255 marks pixels left out of both prediction and target sums.
/// let labels = Tensor::<NdArray, 3, Int>::full([2, 8, 8], 255, &device);
/// let value: f32 = loss.forward_indices(logits, labels).into_scalar();
/// assert_eq!(value, 0.0); // nothing left to score
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct DiceLoss<B: Backend> {
    /// Class weights `[C]`, if any.
    pub weight: Option<Tensor<B, 1>>,
    /// The class channel left out, if any.
    pub ignore_index: Option<usize>,
    /// Smoothing `s`.
    pub smooth: f32,
    /// Denominator power `p`.
    pub p: f32,
    /// Reduction over samples.
    pub reduction: Reduction,
}

impl<B: Backend> ModuleDisplay for DiceLoss<B> {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        one_line_display()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        content
            .add("weight", &self.weight)
            .add("ignore_index", &format!("{:?}", self.ignore_index))
            .add("smooth", &self.smooth)
            .add("p", &self.p)
            .add("reduction", &format!("{:?}", self.reduction))
            .optional()
    }
}

impl<B: Backend> DiceLoss<B> {
    /// Computes the loss from logits and one-hot (or soft) targets of the same shape.
    ///
    /// # Shapes
    ///
    /// - `logits`: `[N, C, d1, ..., dk]` (`k >= 1`)
    /// - `targets`: the same shape, e.g. from [`one_hot`](crate::one_hot)
    /// - output: `[1]` for `Mean` and `Sum`, `[N]` for `None`.
    ///
    /// # Panics
    ///
    /// If the shapes differ, `weight` does not have `C` entries, or `ignore_index >= C`.
    pub fn forward<const D: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, D>,
    ) -> Tensor<B, 1> {
        checks::same_shapes(
            LOSS,
            ["logits", "targets"],
            &logits.dims(),
            &targets.dims(),
            3,
        );
        self.check_classes(&logits.dims());
        let probs = softmax(to_ncs(logits), 1);
        self.reduce_classes(probs, to_ncs(targets))
    }

    /// Computes the loss from logits and class-index targets.
    ///
    /// Target values outside `[0, C)` (e.g. `255`) mark pixels that are left out of both the
    /// prediction and the target sums; they are not an error. A batch with no pixel left scores
    /// `0` with zero gradient.
    ///
    /// # Shapes
    ///
    /// - `logits`: `[N, C, d1, ..., dk]` (`k >= 1`)
    /// - `targets`: `[N, d1, ..., dk]` (`K = D − 1`), class indices
    /// - output: `[1]` for `Mean` and `Sum`, `[N]` for `None`.
    ///
    /// # Panics
    ///
    /// On a rank or shape mismatch, if `weight` does not have `C` entries, or `ignore_index >= C`.
    pub fn forward_indices<const D: usize, const K: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, K, Int>,
    ) -> Tensor<B, 1> {
        let dims = logits.dims();
        let num_classes = checks::class_index_shapes(LOSS, &dims, &targets.dims());
        assert!(
            D >= 3,
            "{LOSS}: logits must be [N, C, d1, ..., dk] with k >= 1, got {dims:?}"
        );
        self.check_classes(&dims);
        let targets: Tensor<B, 3> = one_hot(targets.flatten::<2>(1, K - 1), num_classes);
        // A pixel counts where its one-hot row is not all zero, i.e. its index is in [0, C).
        let counts = targets.clone().sum_dim(1);
        let probs = softmax(to_ncs(logits), 1) * counts;
        self.reduce_classes(probs, targets)
    }

    fn check_classes(&self, dims: &[usize]) {
        let num_classes = dims[1];
        if let Some(weight) = &self.weight {
            let [len] = weight.dims();
            checks::class_count(LOSS, "weight", len, num_classes, dims);
        }
        if let Some(ignored) = self.ignore_index {
            assert!(
                ignored < num_classes && num_classes > 1,
                "{LOSS}: ignore_index {ignored} must name one of the {num_classes} classes of \
                 the input (shape {dims:?}) and leave at least one class"
            );
        }
    }

    /// Per-class Dice of `[N, C, S]` probabilities and targets, weighted and averaged over the
    /// included classes, then reduced over the batch.
    fn reduce_classes(&self, probs: Tensor<B, 3>, targets: Tensor<B, 3>) -> Tensor<B, 1> {
        let [batch, num_classes, spatial] = probs.dims();
        let per_class = dice_per_row(
            probs.reshape([batch * num_classes, spatial]),
            targets.reshape([batch * num_classes, spatial]),
            self.smooth,
            self.p,
        )
        .reshape([batch, num_classes]);
        let factors = self.class_factors(num_classes, &per_class.device());
        let losses = (per_class * factors).sum_dim(1).flatten::<1>(0, 1);
        reduce_unweighted(losses, self.reduction)
    }

    /// `w[c]·[c ∈ I] / |I|` as a `[1, C]` row.
    fn class_factors(&self, num_classes: usize, device: &B::Device) -> Tensor<B, 2> {
        let included = num_classes - usize::from(self.ignore_index.is_some());
        let mask: Vec<f32> = (0..num_classes)
            .map(|c| {
                if Some(c) == self.ignore_index {
                    0.0
                } else {
                    1.0 / included as f32
                }
            })
            .collect();
        let mask = Tensor::<B, 1>::from_floats(mask.as_slice(), device);
        let factors = match &self.weight {
            Some(weight) => weight.clone() * mask,
            None => mask,
        };
        factors.reshape([1, num_classes])
    }
}
