//! Helpers shared by the `audioproc serve` end-to-end tests.
#![allow(dead_code)]

pub mod client;
pub mod fleet;
pub mod lb;
pub mod server;
