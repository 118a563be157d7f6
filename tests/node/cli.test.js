'use strict'
// The package's `gatepass` bin (bindings-node/bin/gatepass.js, what `npx
// gatepass` runs) in subprocesses on a real SQLite file: what it writes is
// what the library reads, stdin and the environment work, exit codes.

const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const { Gate } = require('gatepass')
const pkg = require('gatepass/package.json')

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gatepass-cli-'))

const BIN = path.join(path.dirname(require.resolve('gatepass/package.json')), pkg.bin.gatepass)

function gatepassCli (dir, args, { input, env } = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GATEPASS_')))
  const done = spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    input,
    env: { ...clean, GATEPASS_STORE: `sqlite:///${path.join(dir, 'cli.db')}`, ...env },
    encoding: 'utf8',
    timeout: 60_000
  })
  return { code: done.status, out: done.stdout, err: done.stderr }
}

describe('the gatepass bin', () => {
  it('issues into the store the library reads, and verifies from stdin or the environment', async () => {
    const dir = tempDir()
    const issued = gatepassCli(dir, ['keys', 'issue', 'From npx', '--scope', 'bots:read', '--json'])
    assert.equal(issued.code, 0, issued.err)
    const { token, key } = JSON.parse(issued.out)
    assert.match(token, /^gp_/)

    const gate = await Gate.open(`sqlite:///${path.join(dir, 'cli.db')}`)
    try {
      assert.equal((await gate.get(key.id)).name, 'From npx')
      assert.ok((await gate.verify(`Bearer ${token}`, { scopes: ['bots:read'] })).ok)
    } finally {
      await gate.close()
    }

    const fromStdin = gatepassCli(dir, ['verify', '-', '--scopes', 'bots:read'], { input: `${token}\n` })
    assert.equal(fromStdin.code, 0, fromStdin.err)
    assert.equal(fromStdin.out, `valid: ${key.id} (From npx), scopes: bots:read\n`)
    const fromEnv = gatepassCli(dir, ['verify', '--scopes', 'bots:write', '--json'], { env: { GATEPASS_TOKEN: token } })
    assert.equal(fromEnv.code, 1)
    assert.equal(JSON.parse(fromEnv.out).code, 'insufficient_scope')
    const listed = gatepassCli(dir, ['keys', 'list'])
    assert.ok(listed.out.includes(key.id) && !listed.out.includes(token))
  })

  it('exits with the command line\'s codes', () => {
    const dir = tempDir()
    const missing = gatepassCli(dir, ['keys', 'show', 'key_AAAAAAAAAAAAAAAA', '--json'])
    assert.equal(missing.code, 3)
    assert.equal(JSON.parse(missing.out).error.code, 'not_found')
    assert.equal(missing.err, 'gatepass: error: no key with id "key_AAAAAAAAAAAAAAAA" (not_found)\n')
    assert.equal(gatepassCli(dir, ['keys', 'issue', 'x', '--scope', 'Bad Scope']).code, 4)
    assert.equal(gatepassCli(dir, ['keys', 'frobnicate']).code, 2)
    assert.equal(gatepassCli(dir, ['verify', 'gp_nope']).code, 1)
    const version = gatepassCli(dir, ['--version'])
    assert.deepEqual([version.code, version.out], [0, `gatepass ${pkg.version}\n`])
  })
})
