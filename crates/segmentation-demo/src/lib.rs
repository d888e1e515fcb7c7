//! # segmentation-demo
//!
//! A small, complete semantic-segmentation project built on [Burn](https://burn.dev) and the
//! losses of [`burn_losses`]: a U-Net-style network ([`model`]), a synthetic shapes data set and a
//! loader for your own image/mask folders ([`data`]), the loss choices of the command line
//! ([`loss`]), per-class Dice / IoU metrics ([`metrics`]), training through `burn-train`
//! ([`training`], [`steps`], [`progress`]), inference and evaluation ([`inference`]), PNG
//! output ([`visual`]), and the conversion of a real microscopy data set ([`nuclei`]).
//!
//! The binary `seg-demo` wires these together; see `docs/demo.md` at the workspace root.

pub mod backend;
pub mod config;
pub mod data;
pub mod inference;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod nuclei;
pub mod progress;
pub mod steps;
pub mod training;
pub mod visual;
