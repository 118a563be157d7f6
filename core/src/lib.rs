//! gatepass-core: API tokens, scopes, key lifecycle, verification and webhook
//! signatures for chatbot-platform backends.
//!
//! Every rule lives here once; the Python and Node bindings only translate
//! arguments, errors and threads.

pub mod clock;
pub mod webhook;
