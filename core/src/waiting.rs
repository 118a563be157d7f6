//! Whether a verification may wait for I/O. One verification pipeline serves
//! both callers: [`Blocking`] may wait on the store and a remote rate
//! limiter (the thread-pool path of the bindings), [`InMemory`] answers only
//! from memory — a cached key, a local limiter — and gives up at the first
//! step that would wait, so a binding can answer on its event-loop thread
//! and send only the rest to a worker.
//!
//! Giving up is a type: under `Blocking` it is [`Infallible`], so the
//! blocking path has no "gave up" case to handle or to get wrong.

use std::convert::Infallible;

use crate::error::{GateError, StoreError};

/// A verification on the calling thread stopped because its answer needs
/// the store or a remote service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NeedsIo;

pub(crate) trait Waiting {
    type GaveUp;
    /// `Some` when steps that would wait must give up instead.
    fn give_up() -> Option<Self::GaveUp>;
}

pub(crate) enum Blocking {}

pub(crate) enum InMemory {}

impl Waiting for Blocking {
    type GaveUp = Infallible;
    fn give_up() -> Option<Infallible> {
        None
    }
}

impl Waiting for InMemory {
    type GaveUp = NeedsIo;
    fn give_up() -> Option<NeedsIo> {
        Some(NeedsIo)
    }
}

/// Why a verification produced no answer.
#[derive(Debug)]
pub(crate) enum Stop<G> {
    Failed(GateError),
    GaveUp(G),
}

impl<G> From<GateError> for Stop<G> {
    fn from(e: GateError) -> Self {
        Self::Failed(e)
    }
}

impl<G> From<StoreError> for Stop<G> {
    fn from(e: StoreError) -> Self {
        Self::Failed(GateError::Store(e))
    }
}

/// Passes when the next step is answered from memory or waiting is allowed.
pub(crate) fn may_wait<W: Waiting>(from_memory: bool) -> Result<(), Stop<W::GaveUp>> {
    match W::give_up() {
        Some(g) if !from_memory => Err(Stop::GaveUp(g)),
        _ => Ok(()),
    }
}
