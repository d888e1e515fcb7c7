//! Conformance of burn-losses with PyTorch (values and gradients), finite-difference gradient
//! checks, invariants, edge cases and error paths — every body generic over the backend and
//! instantiated per backend by `backend_tests!`.

mod conformance {
    mod binary_dice;
    mod binary_focal;
    mod config;
    mod cross_entropy;
    mod dice;
    mod focal;
    mod generalized_dice;
    mod one_hot;
    mod tversky;
}
