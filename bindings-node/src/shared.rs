//! Every verification reaches JavaScript in one shape: a number that names
//! it in this table, on the JavaScript thread. `index.js` takes the entry
//! (`takeVerification`) the first time it sees a number and builds its
//! `Verification` from it.
//!
//! Why numbers: a valid verification answered from memory with no headers to
//! send is the same value for every request made with one cached key record
//! through one scheme, so it keeps one number, and `index.js` keeps, under
//! that number, what it has read through it (the key, `authorize` answers).
//! Such a request then costs one call that returns a number: no object, no
//! handle, no conversion. Any other verification (a failure, a rate limit's
//! headers) gets a number of its own, which `takeVerification` gives up.
//!
//! Numbers are never reused, so a number always names the same
//! verification. Shared entries are forgotten, on both sides, past a bound;
//! an entry of its own is taken right after the call that returned its
//! number (in the same turn of the event loop, or in the Promise's reaction),
//! before anything can be forgotten.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use gatepass_core::Verification as CoreVerification;
use napi::bindgen_prelude::{Array, Env, External, Null};
use napi_derive::napi;

use crate::error::{NodeError, OrThrow, Thrown};

/// Past this many shared verifications, the table starts again from empty.
const MAX_SHARED: usize = 10_000;

/// A scheme (`None`: a bare token) and the number of its verification.
type Named = (Option<Arc<str>>, u64);

#[derive(Default)]
struct Table {
    /// Shared verifications by the key record's address and the scheme. The
    /// entry holds the record (through the verification), so the address is
    /// not reused while here.
    by_record: HashMap<usize, Vec<Named>>,
    shared: HashMap<u64, Arc<CoreVerification>>,
    /// Verifications of their own, until taken.
    own: HashMap<u64, CoreVerification>,
    next: u64,
}

thread_local! {
    // JavaScript runs on one thread per isolate: each has its own numbers.
    static TABLE: RefCell<Table> = RefCell::new(Table::default());
}

/// The number naming `v`. Call it on the JavaScript thread.
pub fn number(v: CoreVerification) -> f64 {
    TABLE.with(|cell| {
        let mut t = cell.borrow_mut();
        t.next += 1;
        let fresh = t.next;
        let address = v.key.as_ref().map(|k| Arc::as_ptr(k) as usize);
        let Some(address) = address.filter(|_| v.ok() && v.headers().is_empty()) else {
            t.own.insert(fresh, v);
            return fresh as f64;
        };
        if let Some(&(_, n)) = t
            .by_record
            .get(&address)
            .and_then(|list| list.iter().find(|(s, _)| *s == v.scheme))
        {
            return n as f64;
        }
        if t.shared.len() >= MAX_SHARED {
            t.by_record.clear();
            t.shared.clear();
        }
        t.by_record
            .entry(address)
            .or_default()
            .push((v.scheme.clone(), fresh));
        t.shared.insert(fresh, Arc::new(v));
        fresh as f64
    })
}

/// The verification a number names, as `[code, status, headers, handle,
/// shared]`: `headers` is `[name, value, …]` or `null`; `shared` says
/// whether the number will name it again (then `index.js` keeps the entry).
/// A verification of its own is given up here. `null` once forgotten.
#[napi(
    catch_unwind,
    ts_return_type = "[string, number, string[] | null, ExternalObject<unknown>, boolean] | null"
)]
pub fn take_verification(env: &Env, number: f64) -> Result<Option<Array<'_>>, Thrown> {
    let n = number as u64;
    let found = TABLE.with(|cell| {
        let mut t = cell.borrow_mut();
        match t.own.remove(&n) {
            Some(v) => Some((Arc::new(v), false)),
            None => t.shared.get(&n).map(|v| (Arc::clone(v), true)),
        }
    });
    found
        .map(|(v, shared)| entry(env, v, shared))
        .transpose()
        .or_throw()
}

fn entry(env: &Env, v: Arc<CoreVerification>, shared: bool) -> Result<Array<'_>, NodeError> {
    let mut out = env.create_array(5)?;
    out.set(0, v.code())?;
    out.set(1, u32::from(v.status()))?;
    let headers = v.headers();
    if headers.is_empty() {
        out.set(2, Null)?;
    } else {
        let flat: Vec<String> = headers.into_iter().flat_map(|(n, v)| [n, v]).collect();
        out.set(2, flat)?;
    }
    out.set(3, External::new(v))?;
    out.set(4, shared)?;
    Ok(out)
}
