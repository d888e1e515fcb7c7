use burn::config::Config;
use burn::tensor::{Tensor, backend::Backend};

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
