use burn::config::Config;
use burn::tensor::{Tensor, backend::Backend};

use crate::LossConfigError;
use crate::functional::math::safe_div;

/// How the per-element losses are combined, named and defined as PyTorch's `reduction`.
///
/// - `Mean`: the mean over the elements that count (for cross-entropy with class `weight`,
///   the weighted mean `Σ w[y]·l / Σ w[y]`, as PyTorch). An empty mean is `0`, not `NaN`.
/// - `Sum`: the plain sum.
/// - `None`: no reduction; the losses are returned one per element.
///
/// ```
/// use burn_losses::Reduction;
///
/// assert_eq!(Reduction::default(), Reduction::Mean);
/// let json = serde_json::to_string(&Reduction::Sum).unwrap();
/// assert_eq!(serde_json::from_str::<Reduction>(&json).unwrap(), Reduction::Sum);
/// ```
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// Average over the elements that count (PyTorch `'mean'`).
    Mean,
    /// Sum over all elements (PyTorch `'sum'`).
    Sum,
    /// Keep one loss per element (PyTorch `'none'`).
    None,
}

// Not `#[derive(Default)]`: burn's `Config` derive copies variant attributes such as
// `#[default]` into a helper enum that does not derive `Default`.
#[allow(clippy::derivable_impls)]
impl Default for Reduction {
    fn default() -> Self {
        Self::Mean
    }
}

/// Reduces per-element `losses` (already zero where an element does not count) with
/// `reduction`; `Mean` divides by `count`, the number (or total weight) of elements that count.
///
/// `Reduction::None` returns `losses` unchanged.
pub(crate) fn reduce<B: Backend>(
    losses: Tensor<B, 1>,
    count: impl FnOnce() -> Tensor<B, 1>,
    reduction: Reduction,
) -> Tensor<B, 1> {
    match reduction {
        Reduction::Mean => safe_div(losses.sum(), count()),
        Reduction::Sum => losses.sum(),
        Reduction::None => losses,
    }
}

/// Converts Burn's own [`burn::nn::loss::Reduction`]: `Mean` and `Auto` (Burn's mean) become
/// `Mean`, `Sum` stays `Sum`.
///
/// Burn's `BatchMean` (the sum divided by the batch size) has no counterpart here — our `Mean`
/// is PyTorch's mean over the elements that count — so it is an error rather than a silent
/// change of scale; a `From` would have to guess. Burn has no `None` (ours keeps every loss).
///
/// ```
/// use burn_losses::Reduction;
///
/// assert_eq!(Reduction::try_from(burn::nn::loss::Reduction::Auto), Ok(Reduction::Mean));
/// assert!(Reduction::try_from(burn::nn::loss::Reduction::BatchMean).is_err());
/// ```
impl TryFrom<burn::nn::loss::Reduction> for Reduction {
    type Error = LossConfigError;

    fn try_from(reduction: burn::nn::loss::Reduction) -> Result<Self, Self::Error> {
        use burn::nn::loss::Reduction as Burn;
        match reduction {
            Burn::Mean | Burn::Auto => Ok(Self::Mean),
            Burn::Sum => Ok(Self::Sum),
            Burn::BatchMean => Err(LossConfigError::UnsupportedOption {
                loss: "Reduction",
                argument: "reduction",
                value: "BatchMean".into(),
                reason: "burn-losses' Mean is the mean over the elements that count (PyTorch's); \
                         use Sum and divide by the batch size",
            }),
        }
    }
}

/// [`reduce`] where every element counts once: `Mean` is the plain mean.
pub(crate) fn reduce_unweighted<B: Backend>(
    losses: Tensor<B, 1>,
    reduction: Reduction,
) -> Tensor<B, 1> {
    match reduction {
        Reduction::Mean => losses.mean(),
        Reduction::Sum => losses.sum(),
        Reduction::None => losses,
    }
}
