//! Option enums shared by the Dice family of losses.

use burn::config::Config;

/// What is applied to the input along the class axis 1 before the overlap sums.
///
/// - `Softmax`: a softmax over the classes (mutually exclusive classes; MONAI `softmax=True`,
///   smp `"multiclass"`, kornia's Dice). Needs at least two channels.
/// - `Sigmoid`: a sigmoid on every channel independently (multi-label or binary; MONAI
///   `sigmoid=True`, smp `"multilabel"` / `"binary"`).
/// - `None`: nothing; the input already holds probabilities in `[0, 1]`.
///
/// Serialised by variant name:
///
/// ```
/// use burn_losses::Activation;
///
/// assert_eq!(serde_json::to_string(&Activation::Sigmoid).unwrap(), "\"Sigmoid\"");
/// assert_eq!(Activation::default(), Activation::Softmax);
/// ```
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Softmax over the class axis.
    Softmax,
    /// Per-channel sigmoid.
    Sigmoid,
    /// The input is already probabilities.
    None,
}

// Not `#[derive(Default)]`: burn's `Config` derive copies variant attributes into a helper enum
// that does not derive `Default` (see `Reduction`).
#[allow(clippy::derivable_impls)]
impl Default for Activation {
    fn default() -> Self {
        Self::Softmax
    }
}

/// What a class whose target sum `T = Σ y^p` is `0` does (an *empty* class: absent from the
/// sample, or with `batch` from the whole batch).
///
/// - `Keep`: the formula as is (MONAI). With smoothing, an empty class predicted empty scores
///   loss `≈ 0` and one predicted present scores `≈ 1`.
/// - `Zero`: the class's loss is `0` with zero gradient, and it still counts in the class mean
///   (segmentation_models_pytorch: `loss *= y_true.sum(dims) > 0`).
/// - `Exclude`: the class is left out of the class mean (kornia's `average="macro"`). A sample
///   (or batch) with no class left scores `0` with zero gradient — kornia scores it `1` — and
///   class weights give `(1/|I'|)·Σ_{c∈I'} w_c·l_c` over the remaining classes `I'` (kornia
///   divides by `Σ w_c` instead).
///
/// ```
/// use burn_losses::EmptyClass;
///
/// assert_eq!(EmptyClass::default(), EmptyClass::Keep);
/// let json = serde_json::to_string(&EmptyClass::Exclude).unwrap();
/// assert_eq!(serde_json::from_str::<EmptyClass>(&json).unwrap(), EmptyClass::Exclude);
/// ```
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum EmptyClass {
    /// Apply the formula as is (MONAI).
    Keep,
    /// Loss 0 with zero gradient, still counted in the class mean (smp).
    Zero,
    /// Left out of the class mean (kornia's `"macro"`).
    Exclude,
}

#[allow(clippy::derivable_impls)]
impl Default for EmptyClass {
    fn default() -> Self {
        Self::Keep
    }
}

/// The class weights of the generalized Dice loss, computed from each class's target sum
/// `T_c` (MONAI's `w_type`): `Square` `1/T_c²`, `Simple` `1/T_c`, `Uniform` `1`.
///
/// A class with `T_c = 0` would get an infinite weight; it takes the largest finite weight of
/// the other included classes instead (MONAI's rule), and `0` if there is none.
///
/// ```
/// use burn_losses::GeneralizedDiceWeight;
///
/// assert_eq!(GeneralizedDiceWeight::default(), GeneralizedDiceWeight::Square);
/// ```
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum GeneralizedDiceWeight {
    /// `w_c = 1 / T_c²` (MONAI `w_type="square"`, Sudre et al. 2017).
    Square,
    /// `w_c = 1 / T_c` (MONAI `w_type="simple"`).
    Simple,
    /// `w_c = 1` (MONAI `w_type="uniform"`).
    Uniform,
}

#[allow(clippy::derivable_impls)]
impl Default for GeneralizedDiceWeight {
    fn default() -> Self {
        Self::Square
    }
}

/// Which classes the Lovász-softmax loss averages over.
///
/// - `Present`: the classes that occur in the (non-ignored) target of the image or batch
///   (Berman et al.'s and smp's default, `classes="present"`);
/// - `All`: every class (`classes="all"`), absent ones included.
///
/// ```
/// use burn_losses::LovaszClasses;
///
/// assert_eq!(LovaszClasses::default(), LovaszClasses::Present);
/// ```
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum LovaszClasses {
    /// The classes present in the target.
    Present,
    /// Every class.
    All,
}

#[allow(clippy::derivable_impls)]
impl Default for LovaszClasses {
    fn default() -> Self {
        Self::Present
    }
}
