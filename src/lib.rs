//! Upload Monitor: the facade over the workspace's crates and the local Supabase dev stack.
#![deny(missing_docs)]

pub use monitor_core;
pub use monitor_sdk;

pub mod devstack;
