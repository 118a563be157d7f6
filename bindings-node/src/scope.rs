//! Route requirements: `scopes` takes an array (all of them) or a string (an
//! expression, a single scope being the simplest one); `anyScopes` an array.
//! Parsed and checked against the policy's catalogue once, when a route is
//! declared, then shared by every request.

use std::sync::Arc;

use gatepass_core::scope::ScopeSpec;
use gatepass_core::Requirement as CoreRequirement;
use napi::bindgen_prelude::External;
use napi::Either;
use napi_derive::napi;

use crate::error::{NodeError, OrThrow, Thrown};

pub type ScopesArg = Either<String, Vec<String>>;

/// A parsed scope requirement, shared by every request of a route. A plain
/// handle rather than a class instance: it is an argument of every
/// verification, and napi-rs checks and borrows a class instance on each
/// call (see `GateHandle` for what that measured). `index.js` wraps it in
/// its `Requirement` class.
pub type RequirementHandle = External<Arc<CoreRequirement>>;

pub fn handle(requirement: CoreRequirement) -> RequirementHandle {
    External::new(Arc::new(requirement))
}

/// Parses a requirement without a policy (syntax only); `gate.checkRequirement`
/// checks it against a catalogue later.
#[napi(catch_unwind, ts_return_type = "ExternalObject<'Requirement'>")]
pub fn parse_requirement(
    scopes: Option<ScopesArg>,
    any_scopes: Option<Vec<String>>,
) -> Result<RequirementHandle, Thrown> {
    Ok(handle(parse(scopes, any_scopes).or_throw()?))
}

/// The requirement as an expression, e.g. `bots:read and channels:write`.
#[napi(catch_unwind)]
pub fn requirement_to_string(
    #[napi(ts_arg_type = "ExternalObject<'Requirement'>")] requirement: &RequirementHandle,
) -> String {
    requirement.to_string()
}

/// Whether the requirement asks for nothing.
#[napi(catch_unwind)]
pub fn requirement_is_empty(
    #[napi(ts_arg_type = "ExternalObject<'Requirement'>")] requirement: &RequirementHandle,
) -> bool {
    requirement.is_empty()
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
