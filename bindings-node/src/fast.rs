//! `gateVerifyCached`: `gateVerify` for the requests the addon answers from
//! memory (a cached key: nearly all of them), written against Node-API
//! directly instead of through napi-rs's generated glue.
//!
//! Why: for a call with these four arguments, napi-rs 3's glue (borrow
//! tracking of the `External` arguments in a process-wide registry, scope
//! bookkeeping, the `Option<String>` conversions) costs little in a loop but
//! about 5 µs of server CPU per request in the Express benchmark, where each
//! request runs it with cold caches: measured as the difference between this
//! function and `gateVerify` in the same server (docs/benchmarks.md).
//!
//! It takes the same arguments and gives the same answer as `gateVerify`.
//! Where it would have to do more — an argument of another type, a string
//! longer than its buffer, a closed gate, a request that needs the store or a
//! remote rate limiter — it does nothing at all and returns `undefined`, and
//! the caller calls `gateVerify`, which handles every case. Once the core has
//! answered (and counted the request), it always returns that answer or
//! throws: it never declines after an effect.
//!
//! This module is the addon's only `unsafe` code. Every `unsafe` call is a
//! Node-API call (or napi-rs's conversion of a value) made on the JavaScript
//! thread inside a callback, with the `env` and values Node gave that
//! callback; the argument array is as long as the `argc` passed with it, and
//! each string buffer's length is passed with it.
#![allow(unsafe_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;

use gatepass_core::scope::Requirement as CoreRequirement;
use napi::bindgen_prelude::{Either, Env, External, FromNapiRef, JsValue, Object, ToNapiValue};
use napi::{sys, JsError};
use napi_derive::napi;

use crate::error::NodeError;
use crate::gate::{answer, GateSlot};

/// `(gate, credential, requirement, resource)`, as `gateVerify`.
const ARGC: usize = 4;
/// Credentials and resources longer than these (less `LONGEST_CHAR`) go the
/// general way; a key's resource is at most 256 bytes.
const CREDENTIAL_BUFFER: usize = 1024;
const RESOURCE_BUFFER: usize = 512;
/// The longest UTF-8 sequence: Node-API never splits a character, so a string
/// cut short leaves fewer than this many bytes of the buffer unused.
const LONGEST_CHAR: usize = 4;

/// What the call gives JavaScript.
enum Reply {
    Value(sys::napi_value),
    Throw(NodeError),
    /// Nothing was done: call `gateVerify`.
    Declined,
}

/// The Node-API callback; see the module docs.
unsafe extern "C" fn gate_verify_cached(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let mut argc = ARGC;
    let mut argv = [ptr::null_mut(); ARGC];
    // SAFETY: `env` and `info` are this callback's; `argv` holds `argc`
    // values, and Node fills any not passed with `undefined`.
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    let reply = if status == sys::Status::napi_ok {
        // SAFETY: as above; every value in `argv` is Node's.
        catch_unwind(AssertUnwindSafe(|| unsafe { verify(env, &argv) }))
            .unwrap_or_else(|_| Reply::Throw(NodeError::panicked()))
    } else {
        Reply::Declined
    };
    // SAFETY: `env` is this callback's.
    unsafe { reply_with(env, reply) }
}

/// # Safety
/// `env` and `argv` are those of the running callback.
unsafe fn verify(env: sys::napi_env, argv: &[sys::napi_value; ARGC]) -> Reply {
    // SAFETY (both): Node-API checks that the value is an External; napi-rs
    // checks that it wraps this type.
    let Ok(gate) = (unsafe { <External<Arc<GateSlot>>>::from_napi_ref(env, argv[0]) }) else {
        return Reply::Declined;
    };
    let Ok(requirement) =
        (unsafe { <External<Arc<CoreRequirement>>>::from_napi_ref(env, argv[2]) })
    else {
        return Reply::Declined;
    };
    let mut credential = [0u8; CREDENTIAL_BUFFER];
    // SAFETY: the callback's env and value, and a buffer of its own length.
    let Some(credential) = (unsafe { optional_utf8(env, argv[1], &mut credential) }) else {
        return Reply::Declined;
    };
    let mut resource = [0u8; RESOURCE_BUFFER];
    // SAFETY: as above.
    let Some(resource) = (unsafe { optional_utf8(env, argv[3], &mut resource) }) else {
        return Reply::Declined;
    };
    // Node-API writes UTF-8 (lone surrogates replaced), so this holds.
    let Ok(resource) = resource.map(std::str::from_utf8).transpose() else {
        return Reply::Declined;
    };
    let answered = gate.with(|g| Ok(g.verify_in_memory(credential, requirement, resource)));
    match answered {
        // Closed: `gateVerify` throws the error.
        Err(_) | Ok(Ok(None)) => Reply::Declined,
        Ok(Err(e)) => Reply::Throw(e.into()),
        Ok(Ok(Some(v))) => {
            let converted = answer(&Env::from_raw(env), v).and_then(|a| {
                // SAFETY: the callback's env.
                let value = match a {
                    Either::A(number) => unsafe { f64::to_napi_value(env, number) },
                    Either::B(verified) => unsafe { ToNapiValue::to_napi_value(env, verified) },
                };
                value.map_err(NodeError::from)
            });
            converted.map_or_else(Reply::Throw, Reply::Value)
        }
    }
}

/// A string argument's UTF-8 bytes in `buffer`; `Some(None)` for `null` or
/// `undefined`; `None` for any other type or a string too long for `buffer`.
///
/// # Safety
/// `env` and `value` are those of the running callback.
unsafe fn optional_utf8(
    env: sys::napi_env,
    value: sys::napi_value,
    buffer: &mut [u8],
) -> Option<Option<&[u8]>> {
    let mut kind = sys::ValueType::napi_undefined;
    // SAFETY: the callback's env and value.
    if unsafe { sys::napi_typeof(env, value, &mut kind) } != sys::Status::napi_ok {
        return None;
    }
    match kind {
        sys::ValueType::napi_undefined | sys::ValueType::napi_null => Some(None),
        sys::ValueType::napi_string => {
            let mut written = 0;
            // SAFETY: the buffer's own pointer and length.
            let status = unsafe {
                sys::napi_get_value_string_utf8(
                    env,
                    value,
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    &mut written,
                )
            };
            // A string that (nearly) filled the buffer may have been cut.
            if status != sys::Status::napi_ok || written + 1 + LONGEST_CHAR > buffer.len() {
                return None;
            }
            buffer.get(..written).map(Some)
        }
        _ => None,
    }
}

/// # Safety
/// `env` is the running callback's.
unsafe fn reply_with(env: sys::napi_env, reply: Reply) -> sys::napi_value {
    let mut out = ptr::null_mut();
    match reply {
        Reply::Value(value) => return value,
        Reply::Throw(e) => {
            // SAFETY: the callback's env. A null return with an exception
            // pending makes the call throw it.
            unsafe { JsError::from(e.into_napi()).throw_into(env) };
            return ptr::null_mut();
        }
        Reply::Declined => {
            // SAFETY: the callback's env. Should this fail, a null return
            // reads as `undefined` in JavaScript all the same.
            unsafe { sys::napi_get_undefined(env, &mut out) };
        }
    }
    out
}

/// Adds `gateVerifyCached` to the module's exports.
#[napi(module_exports)]
pub fn register(exports: Object, env: Env) -> napi::Result<()> {
    const NAME: &std::ffi::CStr = c"gateVerifyCached";
    let mut function = ptr::null_mut();
    // SAFETY: the module's env and exports object, during module init; the
    // name is NUL-terminated and its length is passed with it.
    let status = unsafe {
        sys::napi_create_function(
            env.raw(),
            NAME.as_ptr(),
            NAME.count_bytes() as isize,
            Some(gate_verify_cached),
            ptr::null_mut(),
            &mut function,
        )
    };
    if status != sys::Status::napi_ok {
        return Err(napi::Error::from_status(status.into()));
    }
    // SAFETY: as above.
    let status = unsafe {
        sys::napi_set_named_property(env.raw(), exports.value().value, NAME.as_ptr(), function)
    };
    if status != sys::Status::napi_ok {
        return Err(napi::Error::from_status(status.into()));
    }
    Ok(())
}
