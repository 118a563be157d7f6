//! gatepass-core: API tokens, scopes, key lifecycle, verification and webhook
//! signatures for chatbot-platform backends.
//!
//! Every rule lives here once; the Python and Node bindings only translate
//! arguments, errors and threads.

pub mod audit;
mod base62;
pub mod clock;
pub mod duration;
pub mod env;
pub mod error;
pub mod errors;
pub mod gate;
pub mod header;
pub mod history;
pub mod key;
pub mod manage;
pub mod outcome;
pub mod policy;
pub mod ratelimit;
#[cfg(feature = "redis")]
pub mod redis;
pub mod scope;
pub mod store;
#[cfg(feature = "tls")]
mod tls;
pub mod token;
pub mod usage;
mod waiting;
pub mod webhook;

pub use audit::{Action, Actor, Event, EventPage, EventQuery};
pub use error::{GateError, StoreError};
pub use errors::Coded;
pub use gate::{Gate, IssueRequest, Issued};
pub use history::{HistorySettings, Step, UsageBucket, UsageQuery, UsageTotals};
pub use key::{ExpiryFilter, KeyRecord, KeyUpdate, ListQuery, Page, Status};
pub use outcome::{HttpResponse, Outcome, Problem, Verification};
pub use policy::Policy;
pub use scope::{Requirement, Scope};
pub use token::Token;
