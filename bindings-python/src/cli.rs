//! The `gatepass` command line, which lives in the `gatepass-cli` crate:
//! `cli_main` runs it on the process's own streams (the console script),
//! `cli_run` with captured output on a gate the host opened (Django's
//! management commands). The GIL is released for the whole run.

use std::ffi::OsString;
use std::sync::Arc;

use gatepass_cli::{Io, Preset};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::gate::Gate;

fn with_program_name(argv: Vec<String>) -> Vec<OsString> {
    std::iter::once(OsString::from("gatepass"))
        .chain(argv.into_iter().map(OsString::from))
        .collect()
}

/// Runs `gatepass ARGV…` (arguments without the program name) on the
/// process's stdin, stdout and stderr; returns the exit code.
#[pyfunction]
pub fn cli_main(py: Python<'_>, argv: Vec<String>) -> i32 {
    let args = with_program_name(argv);
    py.detach(move || gatepass_cli::run(args))
}

/// Runs `gatepass ARGV…` on `gate` (its store and policy; `--store` and
/// `--policy` are refused) with `stdin` as input; returns `(exit code,
/// stdout, stderr)`. `policy_source` names the policy in messages about a
/// kind or prefix it does not know; `actor` names the host in the audit
/// trail (`manage.py`) unless `--actor` is given.
#[pyfunction]
#[pyo3(signature = (argv, gate, policy_source, stdin=None, actor=None))]
pub fn cli_run<'py>(
    py: Python<'py>,
    argv: Vec<String>,
    gate: PyRef<'py, Gate>,
    policy_source: String,
    stdin: Option<Vec<u8>>,
    actor: Option<String>,
) -> (i32, Bound<'py, PyBytes>, Bound<'py, PyBytes>) {
    let preset = Preset {
        gate: Arc::clone(gate.core()),
        policy_source,
        actor,
    };
    let args = with_program_name(argv);
    let (code, out, err) = py.detach(move || {
        let input = stdin.unwrap_or_default();
        let mut stdin = input.as_slice();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = gatepass_cli::run_with(
            args,
            Some(&preset),
            &mut Io {
                stdin: &mut stdin,
                out: &mut out,
                err: &mut err,
            },
        );
        (code, out, err)
    });
    (code, PyBytes::new(py, &out), PyBytes::new(py, &err))
}
