'use strict'
// The Gate API: lifecycle on a real SQLite store, error codes and classes,
// Dates, durations, secret hygiene, flushing at close and at exit.

const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const util = require('node:util')
const { execFileSync } = require('node:child_process')

const gatepass = require('gatepass')
const { Gate, GatepassError, ConfigError, Issued, Verification } = gatepass
const { loadVectors, tempDir } = require('./helpers.js')

const sqliteUrl = (dir) => `sqlite:///${path.join(dir, 'keys.db')}`

describe('Gate lifecycle', () => {
  it('issues, gets, lists, updates, deactivates, activates, revokes, rotates and deletes', async () => {
    const gate = await Gate.open(sqliteUrl(tempDir()))
    const issued = await gate.issue({
      name: 'Production Server',
      scopes: ['bots:read', 'channels:write'],
      subject: 'agent_42',
      metadata: { team: 'support' },
      expiresIn: '90d',
      rateLimit: '1000/hour',
      remaining: 50
    })
    assert.ok(issued instanceof Issued)
    const { token, key } = issued
    assert.match(token, /^gp_[0-9A-Za-z]{36}$/)
    assert.match(key.id, /^key_[0-9A-Za-z]{16}$/)
    assert.equal(key.start, token.slice(0, 7))
    assert.deepEqual(key.scopes, ['bots:read', 'channels:write'])
    assert.equal(key.status, 'active')
    assert.ok(key.createdAt instanceof Date)
    const ninety = key.expiresAt.getTime() - key.createdAt.getTime()
    assert.equal(ninety, 90 * 86400 * 1000)
    assert.equal(key.rateLimit, '1000/hour')
    assert.equal(key.remaining, 50)
    assert.deepEqual(key.metadata, { team: 'support' })
    assert.equal(key.revokedAt, null)

    assert.deepEqual(await gate.get(key.id), key)
    const other = await gate.issue({ name: 'Bot', subject: 'agent_7', expiresAt: new Date(Date.now() + 3600e3) })
    assert.deepEqual((await gate.list({ subject: 'agent_42' })).keys, [key])
    const page1 = await gate.list({ limit: 1 })
    assert.equal(page1.keys.length, 1)
    assert.equal(typeof page1.next, 'string')
    const page2 = await gate.list({ limit: 1, after: page1.next })
    assert.equal(page2.keys[0].id, other.key.id)
    assert.equal(page2.next, null)

    const updated = await gate.update(key.id, { name: 'Renamed', expiresAt: null, rateLimit: null, remaining: 5, scopes: ['bots:read'] })
    assert.equal(updated.name, 'Renamed')
    assert.equal(updated.expiresAt, null)
    assert.equal(updated.rateLimit, null)
    assert.equal(updated.remaining, 5)
    assert.deepEqual(updated.scopes, ['bots:read'])

    assert.equal((await gate.deactivate(key.id)).status, 'inactive')
    assert.equal((await gate.verify(`Bearer ${token}`)).code, 'inactive')
    assert.equal((await gate.activate(key.id)).status, 'active')
    assert.equal((await gate.verify(`Bearer ${token}`)).code, 'valid')

    const rotated = await gate.rotate(key.id, { grace: '1h' })
    assert.equal(rotated.key.id, key.id)
    assert.notEqual(rotated.token, token)
    assert.equal((await gate.verify(rotated.token)).code, 'valid')
    assert.equal((await gate.verify(token)).code, 'valid', 'old secret works during the grace period')
    const again = await gate.rotate(key.id)
    assert.equal((await gate.verify(rotated.token)).code, 'revoked', 'no grace: the old secret stops at once')
    assert.equal((await gate.verify(again.token)).code, 'valid')

    const revoked = await gate.revoke(key.id)
    assert.equal(revoked.status, 'revoked')
    assert.ok(revoked.revokedAt instanceof Date)
    assert.equal((await gate.verify(again.token)).code, 'revoked')
    await assert.rejects(gate.activate(key.id), { code: 'invalid_state' })

    await gate.delete(key.id)
    await assert.rejects(gate.get(key.id), (e) => e instanceof GatepassError && e.code === 'not_found')
    await gate.close()
  })

  it('gives every field of a key record under its own name', async () => {
    // The addon sends a key as a positional array; this pins each position.
    const gate = await Gate.open('memory://')
    const expiresAt = new Date(Date.now() + 3600e3)
    const { token, key: issued } = await gate.issue({
      name: 'Channel bot',
      scopes: ['channels:write'],
      subject: 'agent_7',
      resource: 'channel:ch_1',
      metadata: { team: 'support', n: 2 },
      expiresAt,
      rateLimit: '10/minute',
      remaining: 9
    })
    assert.equal((await gate.verify(`Bearer ${token}`, { resource: 'channel:ch_1' })).code, 'valid')
    await gate.flush()
    await gate.revoke(issued.id)
    const key = await gate.get(issued.id)
    assert.deepEqual(Object.keys(key), ['id', 'name', 'kind', 'start', 'scopes', 'subject', 'resource', 'metadata', 'status',
      'createdAt', 'updatedAt', 'expiresAt', 'revokedAt', 'lastUsedAt', 'usageCount', 'rateLimit', 'remaining',
      'effectiveRateLimit'])
    assert.equal(key.id, issued.id)
    assert.equal(key.name, 'Channel bot')
    assert.equal(key.kind, 'default')
    assert.equal(key.start, token.slice(0, 7))
    assert.deepEqual(key.scopes, ['channels:write'])
    assert.equal(key.subject, 'agent_7')
    assert.equal(key.resource, 'channel:ch_1')
    assert.deepEqual(key.metadata, { team: 'support', n: 2 })
    assert.equal(key.status, 'revoked')
    for (const field of ['createdAt', 'updatedAt', 'expiresAt', 'revokedAt', 'lastUsedAt']) {
      assert.ok(key[field] instanceof Date, field)
    }
    assert.equal(key.createdAt.getTime(), issued.createdAt.getTime())
    assert.ok(key.updatedAt >= key.createdAt)
    assert.equal(key.expiresAt.getTime(), expiresAt.getTime())
    assert.ok(key.revokedAt >= key.createdAt)
    assert.ok(key.lastUsedAt >= key.createdAt)
    assert.equal(key.usageCount, 1)
    assert.equal(key.rateLimit, '10/minute')
    assert.equal(key.remaining, 8)
    assert.equal(key.effectiveRateLimit, '10/minute')
    await gate.close()
  })

  it('shares nothing mutable between verifications answered from memory', async () => {
    // Valid verifications of one cached key share their handle in the addon;
    // each must still read as its own snapshot.
    const gate = await Gate.open('memory://')
    const { token, key: issued } = await gate.issue({ name: 'x', scopes: ['bots:read'], metadata: { team: { name: 'a' } } })
    const header = `Bearer ${token}`
    await gate.verify(header) // fills the cache
    const a = await gate.verify(header)
    const b = await gate.verify(header)
    assert.notEqual(a.key, b.key)
    a.key.scopes.push('admin')
    a.key.metadata.team.name = 'changed'
    a.key.createdAt.setTime(0)
    assert.deepEqual(b.key.scopes, ['bots:read'])
    assert.deepEqual(b.key.metadata, { team: { name: 'a' } })
    assert.equal(b.key.createdAt.getTime(), issued.createdAt.getTime())
    assert.deepEqual((await gate.verify(header)).key.scopes, ['bots:read'])

    // authorize answers, kept per shared verification, follow the key's changes.
    const write = gate.requirement({ scopes: ['bots:write'] })
    for (let i = 0; i < 2; i++) {
      const denied = gate.authorize(await gate.verify(header), { requirement: write })
      assert.equal(denied.code, 'insufficient_scope')
      assert.deepEqual(denied.missingScopes, ['bots:write'])
    }
    await gate.update(issued.id, { scopes: ['bots:read', 'bots:write'] })
    const now = await gate.verify(header)
    assert.equal(gate.authorize(now, { requirement: write }), now)
    assert.deepEqual(now.key.scopes, ['bots:read', 'bots:write'])
    await gate.revoke(issued.id)
    assert.equal((await gate.verify(header)).code, 'revoked')
    await gate.close()
  })

  it('reports errors with stable codes', async () => {
    const gate = await Gate.open('memory://', {
      policy: {
        scopes: ['bots:read', 'bots:write'],
        kinds: { bot: { prefix: 'bp_bot', max_lifetime: '30d' } }
      }
    })
    await assert.rejects(gate.issue({ name: 'x', scopes: ['bots:raed'] }), { code: 'unknown_scope' })
    await assert.rejects(gate.issue({ name: 'x', scopes: ['bots'] }), { code: 'invalid_scope' })
    await assert.rejects(gate.issue({ name: 'x', kind: 'nope' }), { code: 'unknown_kind' })
    await assert.rejects(gate.issue({ name: 'x', expiresIn: '90d' }), { code: 'lifetime_exceeded' })
    await assert.rejects(gate.issue({ name: 'x', expiresIn: 'soon' }), { code: 'invalid_argument' })
    await assert.rejects(gate.issue({ name: 'x', rateLimit: 'lots' }), { code: 'invalid_argument' })
    await assert.rejects(gate.issue({ name: '' }), { code: 'invalid_argument' })
    await assert.rejects(gate.issue({ name: 'x', expiresin: '1d' }), (e) => e instanceof TypeError && e.code === 'invalid_argument')
    await assert.rejects(gate.list({ after: 'garbage' }), { code: 'invalid_argument' })
    await assert.rejects(gate.list({ status: 'gone' }), { code: 'invalid_argument' })
    const { token, key } = await gate.issue({ name: 'bot', expiresIn: '1h' })
    assert.ok(token.startsWith('bp_bot_'))
    assert.equal(key.kind, 'bot')
    assert.ok(Math.abs(key.expiresAt - key.createdAt - 3600e3) < 2)
    await gate.close()
    await assert.rejects(gate.get(key.id), { code: 'closed' })
    assert.equal(gate.closed, true)
    await gate.close()
  })

  it('rejects bad configuration with ConfigError', async () => {
    await assert.rejects(Gate.open('postgres-ish://x'), (e) => e instanceof ConfigError && e.code === 'config_error')
    await assert.rejects(Gate.open('memory://', { policy: { realm: 'x', typo: 1 } }), (e) => e instanceof ConfigError)
    await assert.rejects(Gate.open('memory://', { policy: 'realm = 5' }), (e) => e instanceof ConfigError)
    const toml = await Gate.open('memory://', { policy: 'realm = "landbot"\nscopes = ["bots:read"]\n' })
    const v = await toml.verify(undefined)
    assert.equal(v.headers['WWW-Authenticate'], 'Bearer realm="landbot", Token realm="landbot"')
    await toml.close()
  })

  it('keeps tokens out of inspect, JSON, spreading and errors', async () => {
    const gate = await Gate.open('memory://')
    const issued = await gate.issue({ name: 'secret keeper' })
    const { token } = issued
    for (const text of [util.inspect(issued), util.inspect(issued, { showHidden: false, depth: 5 }), JSON.stringify(issued), String(issued), JSON.stringify({ ...issued }), util.inspect(gate)]) {
      assert.ok(!text.includes(token), text)
    }
    assert.match(util.inspect(issued), /redacted/)
    const v = await gate.verify(`Bearer ${token.slice(0, -2)}xx`)
    assert.ok(!JSON.stringify(v).includes(token.slice(3, 30)))
    await gate.close()
  })

  it('verifies synchronously, and checks further scopes with authorize', async () => {
    const gate = await Gate.open('memory://')
    const { token } = await gate.issue({ name: 'w', scopes: ['bots:write'] })
    const v = gate.verifySync(`Token ${token}`, { scopes: 'bots:read' })
    assert.ok(v instanceof Verification)
    assert.deepEqual({ ok: v.ok, code: v.code, status: v.status, problem: v.problem }, { ok: true, code: 'valid', status: 200, problem: null })
    const denied = gate.authorize(v, { anyScopes: ['admin', 'channels:write'] })
    assert.equal(denied.code, 'insufficient_scope')
    assert.deepEqual(denied.missingScopes, ['admin', 'channels:write'])
    assert.equal(gate.authorize(v, { scopes: ['bots:read'] }).ok, true)
    assert.throws(() => gate.authorize({ ok: true }, {}), { code: 'invalid_argument' })
    gate.flushSync()
    await gate.close()
  })

  it('flushes usage at close so a new process sees it', async () => {
    const url = sqliteUrl(tempDir())
    const gate = await Gate.open(url)
    const { token, key } = await gate.issue({ name: 'counted' })
    for (let i = 0; i < 5; i++) assert.ok((await gate.verify(`Bearer ${token}`)).ok)
    await gate.close()
    const reopened = await Gate.open(url)
    assert.equal((await reopened.get(key.id)).usageCount, 5)
    await reopened.close()
  })

  it('flushes usage at process exit without close()', async () => {
    const dir = tempDir()
    const url = sqliteUrl(dir)
    const gate = await Gate.open(url)
    const { token, key } = await gate.issue({ name: 'exit' })
    await gate.close()
    const script = `
      const { Gate } = require('gatepass')
      Gate.open(${JSON.stringify(url)}).then(async (g) => {
        for (let i = 0; i < 3; i++) await g.verify(${JSON.stringify('Bearer ' + token)})
        ${'/* no close: beforeExit flushes */'}
      })`
    execFileSync(process.execPath, ['-e', script], { cwd: __dirname })
    const script2 = `
      const { Gate } = require('gatepass')
      Gate.open(${JSON.stringify(url)}).then(async (g) => { await g.verify(${JSON.stringify('Bearer ' + token)}); process.exit(0) })`
    execFileSync(process.execPath, ['-e', script2], { cwd: __dirname })
    const check = await Gate.open(url)
    assert.equal((await check.get(key.id)).usageCount, 4)
    await check.close()
  })

  it('defaults to $GATEPASS_STORE', async () => {
    const dir = tempDir()
    const url = sqliteUrl(dir)
    const script = `
      const { Gate } = require('gatepass')
      Gate.open().then(async (g) => { const i = await g.issue({ name: 'env' }); console.log(i.key.id); await g.close() })`
    const id = execFileSync(process.execPath, ['-e', script], { cwd: __dirname, env: { ...process.env, GATEPASS_STORE: url } }).toString().trim()
    const gate = await Gate.open(url)
    assert.equal((await gate.get(id)).name, 'env')
    await gate.close()
    assert.equal(gatepass.DEFAULT_STORE_URL, 'sqlite:///gatepass.db')
  })
})

describe('durations', () => {
  it('take text with a unit; a bare number is refused, as in Python', async () => {
    const gate = await Gate.open('memory://')
    const { key } = await gate.issue({ name: 'x', expiresIn: '3600s' })
    assert.equal(key.expiresAt - key.createdAt, 3600e3)
    for (const expiresIn of [3600, 3600e3, 300]) {
      await assert.rejects(gate.issue({ name: 'x', expiresIn }), (e) => e.code === 'invalid_argument' && e.message.includes('"300s"'))
    }
    assert.throws(() => new gatepass.WebhookVerifier('standard', { secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], tolerance: 300 }), { code: 'invalid_argument' })
    await gate.close()
  })
})

describe('shared vectors', () => {
  it('errors.json: the same error classes as Python, and the answer the core renders for each code', () => {
    const v = loadVectors('errors')
    // The class set, with its parents.
    for (const [name, parent] of Object.entries(v.classes)) {
      const Class = gatepass[name]
      assert.equal(typeof Class, 'function', name)
      if (parent !== null) assert.equal(Object.getPrototypeOf(Class), gatepass[parent], name)
    }
    const rows = [...v.outcome_classes, ...v.cases]
    assert.deepEqual(Object.keys(gatepass.CLASS_BY_CODE).sort(), [...new Set(rows.map((r) => r.code))].sort())
    for (const row of rows) assert.equal(gatepass.CLASS_BY_CODE[row.code].name, row.class, row.code)
    for (const c of v.cases) {
      const Class = gatepass.CLASS_BY_CODE[c.code]
      const e = new Class(c.message, c.code, { webhookScheme: c.webhook_scheme })
      assert.equal(e.message, c.message)
      assert.equal(e.status, c.status, c.code)
      assert.deepEqual(e.headers, c.headers, c.code)
      assert.deepEqual(e.problem, { type: 'about:blank', title: c.title, status: c.status, detail: c.detail, code: c.code }, c.code)
    }
  })

  const headers = loadVectors('headers')
  const scopes = loadVectors('scopes')
  const tokens = loadVectors('tokens')

  it('outcomes.json: a valid verification, from the store and from memory', async () => {
    // The addon hands over a valid request with no headers as its handle
    // alone; index.js fills in the status, which must be the shared one.
    const valid = loadVectors('outcomes').outcomes.find((o) => o.code === 'valid')
    const gate = await Gate.open('memory://')
    const { token } = await gate.issue({ name: 'x' })
    for (const when of ['first (store)', 'second (memory)']) {
      const v = await gate.verify(`Bearer ${token}`)
      assert.equal(v.ok, true, when)
      assert.equal(v.code, valid.code, when)
      assert.equal(v.status, valid.status, when)
      assert.deepEqual(v.headers, {}, when)
      assert.equal(v.problem, null, when)
    }
    await gate.close()
  })

  it('outcomes.json: key_state_concealed answers unknown, inactive, revoked and expired keys alike', async () => {
    const c = loadVectors('outcomes').key_state_concealed
    const answers = async (policy) => {
      const gate = await Gate.open('memory://', { policy })
      const inactive = await gate.issue({ name: 'inactive' })
      await gate.deactivate(inactive.key.id)
      const revoked = await gate.issue({ name: 'revoked' })
      await gate.revoke(revoked.key.id)
      const expired = await gate.issue({ name: 'expired', expiresAt: new Date(Date.now() + 300) })
      await new Promise((resolve) => setTimeout(resolve, 350))
      const requests = {
        unknown_key: tokens.valid.find((t) => t.prefix === 'gp').token,
        inactive: inactive.token,
        revoked: revoked.token,
        expired: expired.token,
        malformed_token: 'gp_x'
      }
      const out = {}
      for (const [code, token] of Object.entries(requests)) out[code] = await gate.verify(`Bearer ${token}`)
      await gate.close()
      return out
    }
    for (const [code, v] of Object.entries(await answers(c.policy))) {
      assert.equal(v.code, code, 'the verification keeps the precise code')
      if (!c.outcomes.includes(code)) {
        assert.ok(c.unchanged.includes(code))
        assert.equal(v.problem.code, code)
        continue
      }
      assert.equal(v.status, c.status, code)
      assert.deepEqual(v.headers, { 'WWW-Authenticate': c.www_authenticate }, code)
      assert.deepEqual(JSON.parse(JSON.stringify(v.problem)), c.problem, code)
      assert.equal(JSON.stringify(v.problem), c.problem_json, code)
    }
    for (const [code, v] of Object.entries(await answers(undefined))) assert.equal(v.problem.code, code)
  })

  it('headers.json: Authorization parsing outcomes', async () => {
    const gate = await Gate.open('memory://')
    for (const c of headers.cases) {
      const v = await gate.verify(c.header)
      // A syntactically fine header with a token that is not ours is malformed_token.
      const expected = c.expect === 'ok' ? 'malformed_token' : c.expect
      assert.equal(v.code, expected, JSON.stringify(c.header)?.slice(0, 40))
    }
    await gate.close()
  })

  it('tokens.json: well-formed tokens are looked up, malformed ones rejected offline', async () => {
    const gate = await Gate.open('memory://')
    for (const t of tokens.valid) {
      const v = await gate.verify(t.token)
      assert.equal(v.code, t.prefix === 'gp' ? 'unknown_key' : 'malformed_token', t.token)
    }
    for (const t of tokens.invalid) {
      assert.equal((await gate.verify(`Bearer ${t.token}`)).code, t.token === '' ? 'invalid_request' : 'malformed_token', t.token)
    }
    await gate.close()
  })

  it('scopes.json: grammar and requirement evaluation', async () => {
    const gate = await Gate.open('memory://')
    for (const s of scopes.invalid_scopes) assert.throws(() => gatepass.parseRequirement({ scopes: [s] }), { code: 'invalid_scope' }, s)
    for (const s of scopes.valid_scopes) gatepass.parseRequirement({ scopes: [s] })
    for (const e of scopes.invalid_expressions) assert.throws(() => gatepass.parseRequirement({ scopes: e }), (err) => ['invalid_scope_expression', 'invalid_scope'].includes(err.code), e)
    for (const c of scopes.cases) {
      const { token } = await gate.issue({ name: 'v', scopes: c.granted })
      const options = {}
      if (c.all !== undefined) options.scopes = c.all
      if (c.any !== undefined) options.anyScopes = c.any
      if (c.expr !== undefined) options.scopes = c.expr
      const v = await gate.verify(token, options)
      assert.deepEqual(v.missingScopes, c.missing, JSON.stringify(c))
      assert.equal(v.ok, c.missing.length === 0)
    }
    await gate.close()
  })
})
