//! The management API as data (placeholder until the API lands: only the
//! response type and the page are here).

pub mod page;

/// An HTTP answer as data: the mount writes it out as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}
