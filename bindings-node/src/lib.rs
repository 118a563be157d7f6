//! Node bindings for gatepass-core. Thin: argument conversion, error mapping
//! and threading only; every rule lives in the core. One module per core
//! module it wraps.

// napi-derive registers exports only outside `cfg(test)`, so in unit-test
// builds the exported free functions look unused.
#![cfg_attr(test, allow(dead_code))]

mod audit;
mod cli;
mod duration;
mod error;
mod gate;
mod key;
mod manage;
mod outcome;
mod scope;
mod shared;
mod task;
mod webhook;
