//! The `gatepass` command line (crate `gatepass-cli`), for `npx gatepass`:
//! `bin/gatepass.js` calls `cliMain(process.argv.slice(2))`.

use std::ffi::OsString;

use napi_derive::napi;

/// Runs `gatepass ARGV…` (arguments without the program name) on the
/// process's stdin, stdout and stderr, on the calling thread; returns the
/// exit code. For the `gatepass` bin: it blocks until the command is done.
#[napi(catch_unwind)]
pub fn cli_main(argv: Vec<String>) -> i32 {
    let args = std::iter::once(OsString::from("gatepass"))
        .chain(argv.into_iter().map(OsString::from))
        .collect();
    gatepass_cli::run(args)
}
