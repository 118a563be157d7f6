'use strict'
// The package's `install` step, and the message a missing addon gives.
//
// Installed from a registry tarball or a release tarball, the prebuilt addon
// (`bindings-node/gatepass.<platform>.node`) is already there and this does
// nothing. Installed from a clone (`npm install ./gatepass`), there is no
// prebuilt addon: with `cargo` on PATH we build it here (a release build of
// the Rust core, about two minutes), because otherwise the first
// `require('gatepass')` fails with napi's generic "Cannot find native
// binding" text, which names neither the cause nor the fix. Without `cargo`
// the install fails with the commands to run.
//
// `npm install` / `npm ci` inside the clone itself (INIT_CWD is the package
// directory) builds nothing: developers build with `npm run build` (napi's
// CLI, a dev dependency), which scripts/test-node.sh runs.

const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const PACKAGE_DIR = path.resolve(__dirname, '..')
const MANIFEST = path.join(__dirname, 'Cargo.toml')
const CRATE_TARGET = 'gatepass_node'

function isMusl () {
  if (process.platform !== 'linux') return false
  const report = process.report && typeof process.report.getReport === 'function' ? process.report.getReport() : null
  return !(report && report.header && report.header.glibcVersionRuntime)
}

/** napi-rs's name for this platform, as native.js looks it up. */
function platformName () {
  const { platform, arch } = process
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

function addonFile () {
  return path.join(__dirname, `gatepass.${platformName()}.node`)
}

function fromSource () {
  return fs.existsSync(MANIFEST)
}

/** What to run to get an addon, for this installation. */
function remedy () {
  if (fromSource()) {
    return [
      'Build it (needs Rust from https://rustup.rs; a release build takes about 2 minutes), either',
      '  in your app:            npm rebuild gatepass',
      `  or in the clone:        cd ${JSON.stringify(PACKAGE_DIR)} && npm ci && npm run build`
    ].join('\n')
  }
  return [
    `This gatepass package carries no addon for ${platformName()}. Install it from a clone of the`,
    'gatepass repository instead (needs Rust from https://rustup.rs; about 2 minutes):',
    '  git clone <gatepass repository> gatepass && npm install ./gatepass'
  ].join('\n')
}

/** The error `require('gatepass')` throws when no addon loads. */
function missingAddonError (cause) {
  const present = fs.existsSync(addonFile())
  const what = present
    ? `gatepass: the native addon ${path.basename(addonFile())} is present but does not load (${cause && cause.message ? cause.message.split('\n')[0] : cause}).`
    : `gatepass: the native addon for ${platformName()} has not been built (no ${path.relative(PACKAGE_DIR, addonFile())}).`
  // The cause only when a file is there and fails to load (its dlopen error
  // is the diagnosis); for a missing file it is napi's misleading "npm has a
  // bug related to optional dependencies" chain, which Node would print.
  const error = new Error(`${what}\n${remedy()}`, present ? { cause } : undefined)
  error.code = 'ERR_GATEPASS_ADDON_MISSING'
  return error
}

function loads () {
  // A child process, so a half-written or foreign file cannot poison this
  // one's module cache; native.js is the loader index.js uses.
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(__dirname, 'native.js'))})`], {
    stdio: 'ignore'
  })
  return r.status === 0
}

function fail (message) {
  process.stderr.write(`\n${message}\n\n`)
  process.exit(1)
}

function build () {
  process.stderr.write(`gatepass: no prebuilt addon for ${platformName()}; building it with cargo (release build, about 2 minutes)\n`)
  const r = spawnSync(
    'cargo',
    ['build', '--release', '--locked', '--manifest-path', MANIFEST, '--message-format=json-render-diagnostics'],
    { cwd: PACKAGE_DIR, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 }
  )
  if (r.error && r.error.code === 'ENOENT') {
    fail(`gatepass: no prebuilt addon for ${platformName()} and no \`cargo\` on PATH to build one.\n${remedy()}`)
  }
  if (r.status !== 0) {
    fail(`gatepass: building the addon with cargo failed (exit ${r.status}; its output is above).\n${remedy()}`)
  }
  // cargo names the library it linked (libgatepass_node.so, .dylib or
  // gatepass_node.dll); take it from its messages rather than guessing the
  // target directory, which CARGO_TARGET_DIR or a config may move.
  let library = null
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue
    let message
    try {
      message = JSON.parse(line)
    } catch {
      continue
    }
    if (message.reason === 'compiler-artifact' && message.target && message.target.name === CRATE_TARGET) {
      library = (message.filenames || []).find((f) => /\.(so|dylib|dll)$/.test(f)) || library
    }
  }
  if (!library) fail(`gatepass: cargo built no ${CRATE_TARGET} library.\n${remedy()}`)
  const temporary = `${addonFile()}.${process.pid}.tmp`
  fs.copyFileSync(library, temporary)
  fs.renameSync(temporary, addonFile())
  if (!loads()) fail(`gatepass: the addon built from source does not load.\n${remedy()}`)
  process.stderr.write(`gatepass: built ${path.relative(PACKAGE_DIR, addonFile())}\n`)
}

function main () {
  if (loads()) return
  if (process.env.INIT_CWD && path.resolve(process.env.INIT_CWD) === PACKAGE_DIR) {
    // `npm install` / `npm ci` in the clone: a developer's setup, built by
    // `npm run build` once the dev dependencies (napi's CLI) are in.
    process.stderr.write('gatepass: addon not built yet; run `npm run build`\n')
    return
  }
  if (!fromSource()) fail(missingAddonError().message)
  build()
}

module.exports = { missingAddonError, platformName }

if (require.main === module) main()
