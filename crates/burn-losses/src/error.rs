use core::fmt;

/// A loss configuration that cannot be used, as reported by the configs' `validate` methods.
///
/// Every variant names the loss, the offending argument and the value that was given, so the
/// message alone tells what to fix.
///
/// ```
/// use burn_losses::{FocalLossConfig, LossConfigError};
///
/// let err = FocalLossConfig::new(3).with_gamma(-1.0).validate().unwrap_err();
/// assert!(matches!(err, LossConfigError::InvalidValue { .. }));
/// assert!(err.to_string().contains("FocalLoss"));
/// assert!(err.to_string().contains("gamma"));
/// ```
///
/// The enum is `#[non_exhaustive]`: new losses may add variants.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LossConfigError {
    /// A per-class vector (`weight`, `alpha`) does not have one entry per class.
    WrongLength {
        /// The loss whose config is wrong, e.g. `"FocalLoss"`.
        loss: &'static str,
        /// The argument, e.g. `"alpha"`.
        argument: &'static str,
        /// The number of classes the loss was configured for.
        expected: usize,
        /// The number of entries that were given.
        actual: usize,
    },
    /// A scalar (or one entry of a vector) lies outside the range the loss accepts.
    InvalidValue {
        /// The loss whose config is wrong.
        loss: &'static str,
        /// The argument, with the entry index for vectors, e.g. `"weight[2]"`.
        argument: String,
        /// The value that was given.
        value: f64,
        /// What the argument must satisfy, e.g. `"finite and >= 0"`.
        requirement: &'static str,
    },
    /// An option (an enum choice, or a combination of options) that the loss does not support.
    UnsupportedOption {
        /// The loss whose config is wrong.
        loss: &'static str,
        /// The argument, e.g. `"activation"`.
        argument: &'static str,
        /// The value that was given, e.g. `"Softmax"`.
        value: String,
        /// Why it is not supported, e.g. `"a softmax over one channel is constant"`.
        reason: &'static str,
    },
}

impl fmt::Display for LossConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongLength {
                loss,
                argument,
                expected,
                actual,
            } => write!(
                f,
                "{loss}: `{argument}` must have one entry per class ({expected}), got {actual}"
            ),
            Self::InvalidValue {
                loss,
                argument,
                value,
                requirement,
            } => write!(f, "{loss}: `{argument}` must be {requirement}, got {value}"),
            Self::UnsupportedOption {
                loss,
                argument,
                value,
                reason,
            } => write!(
                f,
                "{loss}: `{argument}` = {value} is not supported: {reason}"
            ),
        }
    }
}

impl std::error::Error for LossConfigError {}
