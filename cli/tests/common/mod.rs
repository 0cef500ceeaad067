//! Helpers shared by the `audioproc serve` end-to-end tests.
#![allow(dead_code)]

pub mod server;
