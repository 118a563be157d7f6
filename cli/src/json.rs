//! JSON written the way the first (Python) `gatepass` wrote it, so scripts
//! that read `--json` output, and tests comparing the CLI run from either
//! package, see the same bytes: object members in the order given (not
//! sorted), two-space indentation with `": "` and `","` line ends, `", "`
//! between members on one line, and non-ASCII characters escaped as
//! `\uXXXX`.

use std::fmt::Write as _;

/// A JSON value whose objects keep the order they were built in.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// An object from `(name, value)` pairs, in that order.
    pub fn object<const N: usize>(members: [(&str, Json); N]) -> Self {
        Self::Object(
            members
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    /// Appends a member to an object; other values are left as they are.
    pub fn push(&mut self, name: &str, value: Json) {
        if let Self::Object(members) = self {
            members.push((name.to_owned(), value));
        }
    }

    /// `indent=2`, as `json.dumps(value, indent=2)`.
    #[must_use]
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, Some(0));
        out
    }

    /// One line, as `json.dumps(value)`.
    #[must_use]
    pub fn compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None);
        out
    }

    fn write(&self, out: &mut String, level: Option<usize>) {
        match self {
            Self::Null => out.push_str("null"),
            Self::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Self::Number(n) => {
                let _ = write!(out, "{n}");
            }
            Self::String(s) => write_string(out, s),
            Self::Array(items) => {
                if items.is_empty() {
                    out.push_str("[]");
                    return;
                }
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    separator(out, i, level);
                    item.write(out, level.map(|l| l + 1));
                }
                close(out, level);
                out.push(']');
            }
            Self::Object(members) => {
                if members.is_empty() {
                    out.push_str("{}");
                    return;
                }
                out.push('{');
                for (i, (name, value)) in members.iter().enumerate() {
                    separator(out, i, level);
                    write_string(out, name);
                    out.push_str(": ");
                    value.write(out, level.map(|l| l + 1));
                }
                close(out, level);
                out.push('}');
            }
        }
    }
}

fn separator(out: &mut String, index: usize, level: Option<usize>) {
    match level {
        Some(l) => {
            if index > 0 {
                out.push(',');
            }
            out.push('\n');
            out.push_str(&"  ".repeat(l + 1));
        }
        None if index > 0 => out.push_str(", "),
        None => {}
    }
}

fn close(out: &mut String, level: Option<usize>) {
    if let Some(l) = level {
        out.push('\n');
        out.push_str(&"  ".repeat(l));
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

impl From<&str> for Json {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<u64> for Json {
    fn from(n: u64) -> Self {
        Self::Number(n.into())
    }
}

impl From<i64> for Json {
    fn from(n: i64) -> Self {
        Self::Number(n.into())
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Null, Into::into)
    }
}

impl<T: Into<Json>> From<Vec<T>> for Json {
    fn from(items: Vec<T>) -> Self {
        Self::Array(items.into_iter().map(Into::into).collect())
    }
}

impl From<&serde_json::Value> for Json {
    fn from(value: &serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Self::Null,
            serde_json::Value::Bool(b) => Self::Bool(*b),
            serde_json::Value::Number(n) => Self::Number(n.clone()),
            serde_json::Value::String(s) => Self::String(s.clone()),
            serde_json::Value::Array(items) => Self::Array(items.iter().map(Into::into).collect()),
            serde_json::Value::Object(map) => {
                Self::Object(map.iter().map(|(k, v)| (k.clone(), v.into())).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_and_compact_are_pythons_json_dumps() {
        let value = Json::object([
            ("b", Json::from(vec![1u64, 2])),
            ("a", Json::object([])),
            ("c", Json::Array(vec![])),
            ("d", Json::object([("x", Json::Null), ("y", true.into())])),
        ]);
        assert_eq!(
            value.pretty(),
            "{\n  \"b\": [\n    1,\n    2\n  ],\n  \"a\": {},\n  \"c\": [],\n  \"d\": {\n    \"x\": null,\n    \"y\": true\n  }\n}"
        );
        assert_eq!(
            value.compact(),
            "{\"b\": [1, 2], \"a\": {}, \"c\": [], \"d\": {\"x\": null, \"y\": true}}"
        );
    }

    #[test]
    fn strings_are_escaped_to_ascii() {
        let s = Json::from("caf\u{e9} \u{1f600} \"q\" \\ \n\u{1}/");
        assert_eq!(
            s.compact(),
            "\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\n\\u0001/\""
        );
    }
}
