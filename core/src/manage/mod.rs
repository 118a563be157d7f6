//! The management API as data (placeholder until the API lands: only the
//! request/response types and the page are here).

#[cfg(feature = "console")]
pub mod console;
pub mod page;

/// Bodies larger than this are refused.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// An HTTP request as data.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    pub self_origin: Option<&'a str>,
    pub body: &'a [u8],
}

/// An HTTP answer as data: the mount writes it out as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}
