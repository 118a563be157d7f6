//! Route requirements: `scopes` takes an array (all of them) or a string (an
//! expression, a single scope being the simplest one); `anyScopes` an array.
//! Parsed and checked against the policy's catalogue once, when a route is
//! declared, then shared by every request.

use std::sync::Arc;

use gatepass_core::scope::ScopeSpec;
use gatepass_core::Requirement as CoreRequirement;
use napi::Either;
use napi_derive::napi;

use crate::error::{NodeError, OrThrow, Thrown};

pub type ScopesArg = Either<String, Vec<String>>;

/// A parsed, checked scope requirement. Build one with `gate.requirement()`.
#[napi]
pub struct Requirement {
    pub(crate) inner: Arc<CoreRequirement>,
}

#[napi]
impl Requirement {
    /// The requirement as an expression, e.g. `bots:read and channels:write`.
    #[napi(catch_unwind)]
    #[allow(clippy::inherent_to_string)]
    pub fn to_string(&self) -> String {
        self.inner.to_string()
    }

    /// Whether the requirement asks for nothing.
    #[napi(getter, catch_unwind)]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

/// Parses a requirement without a policy (syntax only); `gate.checkRequirement`
/// checks it against a catalogue later.
#[napi(catch_unwind)]
pub fn parse_requirement(
    scopes: Option<ScopesArg>,
    any_scopes: Option<Vec<String>>,
) -> Result<Requirement, Thrown> {
    Ok(Requirement {
        inner: Arc::new(parse(scopes, any_scopes).or_throw()?),
    })
}

pub fn parse(
    scopes: Option<ScopesArg>,
    any_scopes: Option<Vec<String>>,
) -> Result<CoreRequirement, NodeError> {
    let spec = scopes.map(|s| match s {
        Either::A(text) => ScopeSpec::Expr(text),
        Either::B(list) => ScopeSpec::List(list),
    });
    Ok(CoreRequirement::from_args(spec, any_scopes.as_deref())?)
}
