//! The math of every loss, written once; the loss files only check, configure and call it.
//!
//! - [`targets`]: class-index targets (masking, gather index, one-hot with validity), `[N, C, S]`;
//! - [`math`]: division and power with their edge cases defined;
//! - [`pointwise`]: per-element cross-entropy (index and probability targets), softmax focal,
//!   binary cross-entropy with logits and sigmoid focal losses;
//! - [`overlap`]: the overlap statistics `I, P, T` and the Dice-family scores built on them;
//! - [`per_class`]: included classes, class weights and the empty-class policy;
//! - [`lovasz`]: the Lovász extension of the Jaccard loss over sorted errors.
//!
//! A fused kernel for a backend plugs in behind these functions, so no loss file changes.

pub(crate) mod lovasz;
pub(crate) mod math;
pub(crate) mod overlap;
pub(crate) mod per_class;
pub(crate) mod pointwise;
pub(crate) mod targets;
