//! Runnable examples of burn-losses: `quickstart.rs` (`cargo run --example quickstart`) runs
//! every loss on a tiny batch; `train_step.rs` (`cargo run --example train_step`, also run by
//! `cargo test`) is the smallest burn-train `TrainStep`/`InferenceStep` with a burn-losses loss.
