//! How answers are printed: a text form for people, `--json` for scripts,
//! and errors as `gatepass: error: … (code)` on stderr (plus a JSON error
//! object on stdout under `--json`).

use std::io::Write;

use crate::json::Json;
use crate::{exit_code_for, Failure, EXIT_USAGE};

pub struct Output<'a> {
    pub as_json: bool,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
}

impl<'a> Output<'a> {
    pub fn new(as_json: bool, out: &'a mut dyn Write, err: &'a mut dyn Write) -> Self {
        Self { as_json, out, err }
    }

    pub fn err(&mut self) -> &mut dyn Write {
        &mut *self.err
    }

    /// Prints `data` under `--json`, otherwise `text`.
    pub fn emit(&mut self, data: &Json, text: &str) {
        let shown = if self.as_json {
            data.pretty()
        } else {
            text.to_owned()
        };
        let _ = writeln!(self.out, "{shown}");
    }

    /// Writes one line now, for a command that goes on running after it.
    pub fn line(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    /// Reports a failure; returns its exit code.
    pub fn fail(&mut self, failure: Failure) -> i32 {
        let (code, message, exit) = match failure {
            Failure::Usage(message) => ("usage".to_owned(), message, EXIT_USAGE),
            Failure::Coded { code, message } => {
                let exit = exit_code_for(&code);
                (code, message, exit)
            }
        };
        if self.as_json {
            let error = Json::object([(
                "error",
                Json::object([
                    ("code", code.as_str().into()),
                    ("message", message.as_str().into()),
                ]),
            )]);
            let _ = writeln!(self.out, "{}", error.compact());
        }
        let _ = writeln!(self.err, "gatepass: error: {message} ({code})");
        exit
    }
}

/// Columns padded to their widest cell, two spaces apart, trailing spaces
/// trimmed.
#[must_use]
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let width = |i: usize| {
        rows.iter()
            .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
            .chain([header.get(i).map_or(0, |h| h.chars().count())])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut lines = vec![line(header.to_vec())];
    lines.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_by_characters_and_trim() {
        let rows = vec![
            vec!["é…".to_owned(), "x".to_owned()],
            vec!["abcd".to_owned(), String::new()],
        ];
        assert_eq!(table(&["A", "B"], &rows), "A     B\né…    x\nabcd");
    }
}
