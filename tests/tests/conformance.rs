//! Conformance of burn-losses with PyTorch (values and gradients), finite-difference gradient
//! checks, invariants, edge cases and error paths — every body generic over the backend and
//! instantiated per backend by `backend_tests!`.

mod conformance {
    mod bce_with_logits;
    mod binary_dice;
    mod binary_focal;
    mod compound;
    mod config;
    mod cross_entropy;
    mod dice;
    mod empty_inputs;
    mod focal;
    mod fused;
    mod generalized_dice;
    mod lovasz;
    mod one_hot;
    mod tversky;
}
