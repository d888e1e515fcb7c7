use burn::config::Config;
use burn::module::{Content, DisplaySettings, Module, ModuleDisplay};
use burn::tensor::{Int, Tensor, backend::Backend};

use crate::display::one_line_display;
use crate::functional::pointwise::{soft_softmax_losses, softmax_losses};
use crate::fused::ClassLossKind;
use crate::reduction::reduce_unweighted;
use crate::{LossConfigError, Reduction, checks};

const LOSS: &str = "CrossEntropyLoss";

/// Configuration of a [`CrossEntropyLoss`], with PyTorch's argument names and defaults.
///
/// ```
/// use burn_losses::{CrossEntropyLossConfig, Reduction};
///
/// let config = CrossEntropyLossConfig::new()
///     .with_weight(Some(vec![1.0, 2.0, 0.5]))
///     .with_ignore_index(255)
///     .with_label_smoothing(0.1)
///     .with_reduction(Reduction::Sum);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Config, Debug)]
pub struct CrossEntropyLossConfig {
    /// Weight `w[c] >= 0` of each class (PyTorch `weight`); `None` weighs every class 1.
    pub weight: Option<Vec<f32>>,
    /// Target value whose elements do not count (PyTorch `ignore_index`, default `-100`).
    #[config(default = -100)]
    pub ignore_index: i64,
    /// How per-element losses are combined (PyTorch `reduction`, default mean).
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
    /// Label smoothing `ε ∈ [0, 1]` (PyTorch `label_smoothing`, default `0`).
    #[config(default = 0.0)]
    pub label_smoothing: f32,
    /// Check that every target is `ignore_index` or in `[0, C)` and panic otherwise.
    ///
    /// The check reads one value back to the host per `forward` (a device synchronisation).
    /// With it off, out-of-range targets are treated as ignored.
    #[config(default = true)]
    pub check_targets: bool,
}

impl CrossEntropyLossConfig {
    /// Checks the hyperparameters: `weight` entries finite and `>= 0`, `label_smoothing` in
    /// `[0, 1]`. (Whether `weight` has one entry per class is checked by `forward`.)
    pub fn validate(&self) -> Result<(), LossConfigError> {
        if let Some(weight) = &self.weight {
            checks::per_class_values(LOSS, "weight", weight)?;
        }
        checks::unit_interval(LOSS, "label_smoothing", self.label_smoothing)
    }

    /// Creates the loss on `device`.
    ///
    /// # Panics
    ///
    /// With the message of [`validate`](Self::validate) if the configuration is invalid.
    pub fn init<B: Backend>(&self, device: &B::Device) -> CrossEntropyLoss<B> {
        if let Err(err) = self.validate() {
            panic!("{err}");
        }
        CrossEntropyLoss {
            weight: self
                .weight
                .as_ref()
                .map(|w| Tensor::from_floats(w.as_slice(), device)),
            ignore_index: self.ignore_index,
            reduction: self.reduction,
            label_smoothing: self.label_smoothing,
            check_targets: self.check_targets,
        }
    }
}

/// Cross-entropy between logits and class-index targets, exactly PyTorch's
/// `torch.nn.functional.cross_entropy`.
///
/// With `log p = log_softmax(x)` over the class axis 1, class weights `w` (all `1` if unset),
/// smoothing `ε` and `C` classes, the loss of an element with target `y` is
///
/// ```text
/// l = (1 − ε) · w[y] · (−log p[y])  +  (ε / C) · Σ_c w[c] · (−log p[c])
/// ```
///
/// and `0` for elements whose target is `ignore_index`. `Mean` is PyTorch's weighted mean
/// `Σ l / Σ w[y]` over the elements that count; `Sum` is `Σ l`; `None` keeps every `l`.
///
/// The gradient with respect to the logits is `∂l/∂x[c] = w̄ · p[c] − t[c]` with
/// `t[c] = (1 − ε)·w[y]·[c = y] + (ε/C)·w[c]` and `w̄ = Σ_c t[c]`.
///
/// Differences from PyTorch: a mean over no element (every target ignored, or total weight
/// `0`) is `0` with zero gradient instead of `NaN`.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::{Int, Tensor};
/// use burn_losses::CrossEntropyLossConfig;
///
/// let device = Default::default();
/// let loss = CrossEntropyLossConfig::new().init::<NdArray>(&device);
/// // [N, C, H, W] logits and [N, H, W] targets, as for segmentation.
/// let logits = Tensor::<NdArray, 4>::zeros([2, 3, 4, 4], &device);
/// let targets = Tensor::<NdArray, 3, Int>::zeros([2, 4, 4], &device);
/// let value: f32 = loss.forward(logits, targets).into_scalar();
/// assert!((value - 3f32.ln()).abs() < 1e-6);
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct CrossEntropyLoss<B: Backend> {
    /// Class weights `[C]`, if any.
    pub weight: Option<Tensor<B, 1>>,
    /// Target value that does not count.
    pub ignore_index: i64,
    /// Reduction over elements.
    pub reduction: Reduction,
    /// Label smoothing `ε`.
    pub label_smoothing: f32,
    /// Whether `forward` checks the target range (one host read per call).
    pub check_targets: bool,
}

impl<B: Backend> ModuleDisplay for CrossEntropyLoss<B> {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        one_line_display()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        content
            .add("weight", &self.weight)
            .add("ignore_index", &self.ignore_index)
            .add("reduction", &format!("{:?}", self.reduction))
            .add("label_smoothing", &self.label_smoothing)
            .optional()
    }
}

impl<B: Backend> CrossEntropyLoss<B> {
    /// Computes the loss, reduced as configured.
    ///
    /// # Shapes
    ///
    /// - `logits`: `[N, C]` or `[N, C, d1, ..., dk]` (`D = k + 2`)
    /// - `targets`: `[N]` or `[N, d1, ..., dk]` (`K = D − 1`), class indices
    /// - output: `[1]` for `Mean` and `Sum`; for `None`, the `N·d1·..·dk` per-element losses in
    ///   row-major order (ignored elements `0`).
    ///
    /// # Panics
    ///
    /// On a rank or shape mismatch, a `weight` whose length is not `C`, and (while
    /// `check_targets` is on) a target outside `[0, C)` that is not `ignore_index`.
    pub fn forward<const D: usize, const K: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, K, Int>,
    ) -> Tensor<B, 1> {
        self.losses(logits, targets, self.reduction)
    }

    /// Computes the unreduced per-element losses, shaped like `targets` (PyTorch's
    /// `reduction='none'`), whatever `reduction` is configured.
    pub fn forward_no_reduction<const D: usize, const K: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, K, Int>,
    ) -> Tensor<B, K> {
        let shape = targets.shape();
        self.losses(logits, targets, Reduction::None).reshape(shape)
    }

    /// Computes the loss against probability (soft) targets, reduced as configured: PyTorch's
    /// `cross_entropy` with a float target of the logits' shape.
    ///
    /// With `t' = t·(1 − ε) + ε/C`, each element's loss is `l = −Σ_c w[c]·t'[c]·log p[c]`.
    /// `Mean` divides `Σ l` by the number of elements `N·d1·..·dk` (not by the weights, as
    /// PyTorch); `Sum` sums; `None` keeps every `l`. Targets need not sum to 1 (as in
    /// PyTorch). `ignore_index` and `check_targets` do not apply to probability targets.
    ///
    /// The gradient is `∂l/∂x[c] = (Σ_k w[k]·t'[k])·p[c] − w[c]·t'[c]`.
    ///
    /// ```
    /// use burn::backend::NdArray;
    /// use burn::tensor::Tensor;
    /// use burn_losses::CrossEntropyLossConfig;
    ///
    /// let device = Default::default();
    /// let loss = CrossEntropyLossConfig::new().init::<NdArray>(&device);
    /// let logits = Tensor::<NdArray, 2>::zeros([1, 2], &device);
    /// let mixup = Tensor::<NdArray, 2>::from_floats([[0.3, 0.7]], &device); // soft labels
    /// let value: f32 = loss.forward_probs(logits, mixup).into_scalar();
    /// assert!((value - 2f32.ln()).abs() < 1e-6);
    /// ```
    ///
    /// # Shapes
    ///
    /// - `logits`: `[N, C]` or `[N, C, d1, ..., dk]`
    /// - `targets`: the same shape, class probabilities along axis 1
    /// - output: `[1]` for `Mean` and `Sum`; for `None`, the `N·d1·..·dk` per-element losses in
    ///   row-major order.
    ///
    /// # Panics
    ///
    /// If the shapes differ, the rank is below 2, or `weight` does not have `C` entries.
    pub fn forward_probs<const D: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, D>,
    ) -> Tensor<B, 1> {
        let losses = self.prob_losses(logits, targets);
        reduce_unweighted(losses, self.reduction)
    }

    /// Computes the unreduced per-element losses against probability targets, shaped
    /// `[N, d1, ..., dk]` (`K = D − 1`), whatever `reduction` is configured.
    ///
    /// # Panics
    ///
    /// As [`forward_probs`](Self::forward_probs), and if `K != D − 1`.
    pub fn forward_probs_no_reduction<const D: usize, const K: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, D>,
    ) -> Tensor<B, K> {
        let dims = logits.dims();
        assert!(
            K + 1 == D,
            "{LOSS}: the unreduced output of logits of rank {D} has rank {}, got K = {K}",
            D - 1
        );
        let mut shape = [0; K];
        shape[0] = dims[0];
        shape[1..].copy_from_slice(&dims[2..]);
        self.prob_losses(logits, targets).reshape(shape)
    }

    /// The per-element losses `[N·S]` against probability targets.
    fn prob_losses<const D: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, D>,
    ) -> Tensor<B, 1> {
        let dims = logits.dims();
        checks::same_shapes(LOSS, ["logits", "targets"], &dims, &targets.dims(), 2);
        if let Some(weight) = &self.weight {
            let [len] = weight.dims();
            checks::class_count(LOSS, "weight", len, dims[1], &dims);
        }
        soft_softmax_losses(logits, targets, self.weight.as_ref(), self.label_smoothing)
    }

    /// The loss reduced as `reduction` (the per-element losses `[N·S]` for `None`, 0 where
    /// ignored).
    fn losses<const D: usize, const K: usize>(
        &self,
        logits: Tensor<B, D>,
        targets: Tensor<B, K, Int>,
        reduction: Reduction,
    ) -> Tensor<B, 1> {
        let num_classes = checks::class_index_shapes(LOSS, &logits.dims(), &targets.dims());
        if let Some(weight) = &self.weight {
            let [len] = weight.dims();
            checks::class_count(LOSS, "weight", len, num_classes, &logits.dims());
        }
        let kind = ClassLossKind::CrossEntropy {
            label_smoothing: self.label_smoothing,
        };
        let options = (self.ignore_index, self.check_targets);
        softmax_losses(
            LOSS,
            logits,
            targets,
            self.weight.as_ref(),
            options,
            kind,
            reduction,
        )
    }
}
