//! Python bindings for gatepass-core (placeholder until the Python issue lands).
pub use gatepass_core as core;
