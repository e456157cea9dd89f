//! Upload Monitor mobile SDK.
#![deny(missing_docs)]

uniffi::setup_scaffolding!();

pub use monitor_core;
