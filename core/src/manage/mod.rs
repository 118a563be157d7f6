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

/// Who acts (placeholder).
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
}

impl Actor {
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

/// Whose keys (placeholder).
#[derive(Debug, Clone)]
pub struct Principal {
    pub owner: Option<String>,
    pub actor: Actor,
}

impl Principal {
    #[must_use]
    pub fn operator(actor: Actor) -> Self {
        Self { owner: None, actor }
    }
}

/// Placeholder until the API lands: the page only.
#[must_use]
pub fn handle(_gate: &crate::Gate, _principal: &Principal, request: &Request<'_>) -> Response {
    if request.method == "GET" {
        if let Some(response) = page::serve(request.path) {
            return response;
        }
    }
    Response {
        status: 404,
        headers: Vec::new(),
        body: Vec::new(),
    }
}
