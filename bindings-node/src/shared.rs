//! A valid verification answered from memory with no headers to send is the
//! same value for every request made with one cached key record through one
//! scheme: nothing in it is per request. So instead of a new handle (an
//! `External`, with its finalizer) per request, the addon names each such
//! verification with a number; `index.js` fetches its handle once and keeps,
//! under that number, what it reads through it (the key, `authorize`
//! answers). Such a request then costs one call and no conversion.
//!
//! Numbers are never reused, so a number always names the same
//! verification. Both sides forget everything past a bound. `index.js` asks
//! for the handle of a new number right after the verify that returned it,
//! on the same thread, before anything can be forgotten here.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use gatepass_core::Verification as CoreVerification;
use napi::bindgen_prelude::{Either, External};
use napi_derive::napi;

use crate::outcome::VerificationHandle;

/// Past this many, both maps start again from empty.
const MAX_SHARED: usize = 10_000;

/// A scheme (`None`: a bare token) and the number of its verification.
type Named = (Option<Arc<str>>, u64);

#[derive(Default)]
struct Shared {
    /// By the key record's address and the scheme. The entry holds the record
    /// (through the verification), so the address is not reused while here.
    by_record: HashMap<usize, Vec<Named>>,
    by_number: HashMap<u64, Arc<CoreVerification>>,
    next: u64,
}

thread_local! {
    // JavaScript runs on one thread per isolate: each has its own numbers.
    static SHARED: RefCell<Shared> = RefCell::new(Shared::default());
}

/// The number naming `v`, which has no headers to send, when it can be
/// shared; `v` back when it cannot (a failure, no key).
pub fn share(v: CoreVerification) -> Either<f64, CoreVerification> {
    if !v.ok() {
        return Either::B(v);
    }
    let Some(address) = v.key.as_ref().map(|k| Arc::as_ptr(k) as usize) else {
        return Either::B(v);
    };
    SHARED.with(|cell| {
        let mut shared = cell.borrow_mut();
        if let Some(number) = shared
            .by_record
            .get(&address)
            .and_then(|list| list.iter().find(|(s, _)| *s == v.scheme))
            .map(|&(_, n)| n)
        {
            return Either::A(number as f64);
        }
        if shared.by_number.len() >= MAX_SHARED {
            shared.by_record.clear();
            shared.by_number.clear();
        }
        shared.next += 1;
        let number = shared.next;
        shared
            .by_record
            .entry(address)
            .or_default()
            .push((v.scheme.clone(), number));
        shared.by_number.insert(number, Arc::new(v));
        Either::A(number as f64)
    })
}

/// The handle of a shared verification; `null` once forgotten.
#[napi(catch_unwind)]
pub fn shared_verification(number: f64) -> Option<VerificationHandle> {
    SHARED.with(|cell| {
        cell.borrow()
            .by_number
            .get(&(number as u64))
            .map(|v| External::new(Arc::clone(v)))
    })
}
