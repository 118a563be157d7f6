'use strict'
// The package without its addon: `require` and the install step name what to
// run instead of napi's generic "Cannot find native binding". A copy of the
// package's JavaScript in a scratch directory stands for an unbuilt clone (with
// a Cargo.toml) or a tarball that carries no addon for this platform (without).
// scripts/test-install.sh does the same through `npm install` on a real clone.

const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const os = require('node:os')
const { spawnSync } = require('node:child_process')

const PACKAGE = path.resolve(__dirname, '..', '..')
const FILES = ['index.js', 'errors.js', 'native.js', 'install.js']
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gatepass-install-test-'))
process.on('exit', () => fs.rmSync(scratch, { recursive: true, force: true }))

function tempDir () {
  return fs.mkdtempSync(path.join(scratch, 'd'))
}

function unbuiltPackage ({ withCargoToml }) {
  const dir = tempDir()
  fs.mkdirSync(path.join(dir, 'bindings-node'))
  for (const f of FILES) fs.copyFileSync(path.join(PACKAGE, 'bindings-node', f), path.join(dir, 'bindings-node', f))
  if (withCargoToml) fs.writeFileSync(path.join(dir, 'bindings-node', 'Cargo.toml'), '[package]\nname = "stand-in"\n')
  return dir
}

function node (args, options) {
  return spawnSync(process.execPath, args, { encoding: 'utf8', ...options })
}

describe('a package without its addon', () => {
  it('require() names the platform and the commands, not napi\'s message', () => {
    const dir = unbuiltPackage({ withCargoToml: true })
    const r = node(['-e', `
      try { require(${JSON.stringify(path.join(dir, 'bindings-node', 'index.js'))}) }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, cause: e.cause !== undefined })) }`])
    assert.equal(r.status, 0, r.stderr)
    const e = JSON.parse(r.stdout)
    assert.equal(e.code, 'ERR_GATEPASS_ADDON_MISSING')
    assert.match(e.message, /native addon for \S+ has not been built/)
    assert.match(e.message, /npm rebuild gatepass/)
    assert.match(e.message, /npm ci && npm run build/)
    assert.doesNotMatch(e.message, /Cannot find native binding/)
    assert.equal(e.cause, false, 'napi\'s "npm has a bug" chain is not attached')
  })

  it('a file that is there but does not load is named, with its error as the cause', () => {
    const dir = unbuiltPackage({ withCargoToml: true })
    const { platformName } = require(path.join(dir, 'bindings-node', 'install.js'))
    fs.writeFileSync(path.join(dir, 'bindings-node', `gatepass.${platformName()}.node`), 'not a shared library')
    const r = node(['-e', `
      try { require(${JSON.stringify(path.join(dir, 'bindings-node', 'index.js'))}) }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, cause: e.cause !== undefined })) }`])
    const e = JSON.parse(r.stdout)
    assert.equal(e.code, 'ERR_GATEPASS_ADDON_MISSING')
    assert.match(e.message, /is present but does not load/)
    assert.equal(e.cause, true)
  })

  it('the install step in a package without sources fails and says to install from a clone', () => {
    const dir = unbuiltPackage({ withCargoToml: false })
    const r = node([path.join(dir, 'bindings-node', 'install.js')], {
      cwd: dir,
      env: { ...process.env, INIT_CWD: tempDir() }
    })
    assert.equal(r.status, 1)
    assert.match(r.stderr, /carries no addon for \S+/)
    assert.match(r.stderr, /npm install \.\/gatepass/)
  })

  it('the install step without cargo on PATH fails and says what to run', () => {
    const dir = unbuiltPackage({ withCargoToml: true })
    const r = node([path.join(dir, 'bindings-node', 'install.js')], {
      cwd: dir,
      env: { ...process.env, INIT_CWD: tempDir(), PATH: tempDir() }
    })
    assert.equal(r.status, 1)
    assert.match(r.stderr, /no `cargo` on PATH/)
    assert.match(r.stderr, /npm rebuild gatepass/)
  })

  it('the install step inside the clone itself (npm ci) builds nothing and succeeds', () => {
    const dir = unbuiltPackage({ withCargoToml: true })
    const r = node([path.join(dir, 'bindings-node', 'install.js')], {
      cwd: dir,
      env: { ...process.env, INIT_CWD: dir, PATH: tempDir() }
    })
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stderr, /npm run build/)
  })
})
