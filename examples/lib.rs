//! Runnable examples of burn-losses; see `quickstart.rs` (`cargo run --example quickstart`).
