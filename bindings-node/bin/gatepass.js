#!/usr/bin/env node
'use strict'
// `npx gatepass …`: the gatepass command line, the same program the Python
// package installs as `gatepass` (it lives in the native addon).
//
// Nothing here touches process.stdin/stdout/stderr: the command reads and
// writes the file descriptors itself, and Node would otherwise make them
// non-blocking (or buffer what it writes) behind its back.

let native
try {
  native = require('../native.js')
} catch (cause) {
  throw require('../install.js').missingAddonError(cause)
}

process.exitCode = native.cliMain(process.argv.slice(2))
