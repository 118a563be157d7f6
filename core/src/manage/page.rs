//! The API Tokens page's files, served under the management API's mount.

use super::Response;

/// The answer to `GET ""` (the page) and `GET page/…` (its assets); `None`
/// for a path that names no file.
#[must_use]
pub fn serve(path: &str) -> Option<Response> {
    let _ = path;
    None
}
