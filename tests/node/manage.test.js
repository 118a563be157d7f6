'use strict'
// The management API mounted in Express (4 and 5) with manageRouter, over a
// real server on a real SQLite store: the card lifecycle, owner isolation,
// same-origin and JSON rules, names as data, bounds, login, the mount's
// trailing-slash redirect. The same checks as tests/python/manage_http.py.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const readline = require('node:readline')

const { Gate } = require('gatepass')
const { authenticate, requireScopes, problemDetails, manageRouter } = require('gatepass/express')
const { EXPRESSES, listen, loadVectors, tempDir } = require('./helpers.js')

const VECTOR = loadVectors('manage')

const MAX_BODY_BYTES = 16 * 1024
const LOGIN_HEADER = 'x-test-user'

function problemCode (res) {
  return (res.headers.get('content-type') ?? '').startsWith('application/problem+json') ? res.json.code : null
}

/** A logged-in user talking to the mount as the page does. */
function userOf (server, name) {
  const seen = []
  async function call (method, p, { payload, raw, headers = {}, sameOrigin = true } = {}) {
    const h = name ? { [LOGIN_HEADER]: name } : {}
    if (sameOrigin) Object.assign(h, { origin: server.base, 'sec-fetch-site': 'same-origin' })
    let body = raw
    if (payload !== undefined) {
      body = JSON.stringify(payload)
      h['content-type'] = 'application/json'
    }
    Object.assign(h, headers)
    const res = await server.request('/tokens/' + p, { method, headers: h, body, redirect: 'manual' })
    seen.push([method, p, res])
    return res
  }
  return {
    seen,
    call,
    get: (p) => call('GET', p),
    post: (p, payload = {}) => call('POST', p, { payload })
  }
}

async function create (user, name = 'Production Server', extra = {}) {
  const r = await user.post('keys', { name, scopes: ['bots:read'], ...extra })
  assert.equal(r.status, 201, r.text)
  assert.equal(r.headers.get('cache-control'), 'no-store')
  return r.json
}

function fill (value, saved) {
  if (typeof value === 'string') return value.replace(/\{(\w+)\}/g, (_, name) => saved[name])
  if (Array.isArray(value)) return value.map((v) => fill(v, saved))
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, saved)]))
  return value
}

/** Objects: the members given; arrays: the same length, element by element. */
function subset (expected, actual, where) {
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual) && actual.length === expected.length, `${where}: ${JSON.stringify(actual)}`)
    expected.forEach((e, i) => subset(e, actual[i], `${where}[${i}]`))
  } else if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object', `${where}: ${JSON.stringify(actual)}`)
    for (const [k, v] of Object.entries(expected)) {
      assert.ok(k in actual, `${where}.${k} missing`)
      subset(v, actual[k], `${where}.${k}`)
    }
  } else {
    assert.deepEqual(actual, expected, where)
  }
}

/** Every step of tests/vectors/manage.json through the mount at /tokens/. */
async function replayVector (server) {
  const saved = { origin: server.base }
  const tokens = []
  for (const [n, step] of VECTOR.steps.entries()) {
    const where = `step ${n}: ${step.as ?? 'verify'} ${step.method ?? ''} ${step.path ?? ''}`
    if (step.verify !== undefined) {
      const r = await server.request('/v1/any-key', { headers: { authorization: `Bearer ${fill(step.verify, saved)}` } })
      assert.equal(r.status === 200 ? 'valid' : r.json.code, step.outcome, where)
      continue
    }
    const headers = step.as === 'nobody' ? {} : { [LOGIN_HEADER]: step.as }
    if (step.same_origin) Object.assign(headers, { origin: server.base, 'content-type': 'application/json' })
    Object.assign(headers, fill(step.headers ?? {}, saved))
    let body
    if (step.body !== undefined) body = JSON.stringify(fill(step.body, saved))
    else if (step.raw_body !== undefined) body = fill(step.raw_body, saved)
    else if (step.body_bytes !== undefined) body = '{"name": "' + 'a'.repeat(step.body_bytes - 12) + '"}'
    const query = step.query ? '?' + fill(step.query, saved) : ''
    const r = await server.request('/tokens/' + fill(step.path, saved) + query, { method: step.method, headers, body })
    assert.equal(r.status, step.status, `${where}: ${r.text.slice(0, 300)}`)
    if (step.code !== undefined) {
      assert.match(r.headers.get('content-type'), /^application\/problem\+json/, where)
      assert.equal(r.json.code, step.code, where)
    }
    if (step.json !== undefined) subset(fill(step.json, saved), r.json, where)
    if (step.token) assert.equal(r.headers.get('cache-control'), 'no-store', where)
    else for (const t of tokens) assert.ok(!r.text.includes(t), `${where}: a token in an answer that must not hold one`)
    for (const [name, dotted] of Object.entries(step.save ?? {})) {
      saved[name] = dotted.split('.').reduce((v, part) => v[part], r.json)
      if (dotted.includes('token')) tokens.push(saved[name])
    }
  }
  return VECTOR.steps.length
}

/** A host app: a protected route, one that takes any valid key, and the mount at /tokens. */
async function serve (express, gate) {
  const app = express()
  app.get('/v1/bots', authenticate(gate), requireScopes('bots:read'), (req, res) => res.json({ owner: req.gatepass.key.subject }))
  app.get('/v1/any-key', authenticate(gate), (req, res) => res.json({ ok: true }))
  app.use('/tokens', manageRouter({
    gate,
    // Stands for the app's own login (a session): the principals of
    // tests/vectors/manage.json (owner null: operator mode), anyone else
    // as their own owner.
    principal: (req) => {
      const name = req.headers[LOGIN_HEADER]
      if (!name) return null
      const known = VECTOR.principals[name]
      if (known === undefined) return { owner: `workspace:${name}`, actor: `user:${name}` }
      return known.owner === null ? { operator: true, actor: known.actor } : { owner: known.owner, actor: known.actor }
    }
  }))
  app.use(problemDetails())
  return listen(app)
}

for (const [label, express] of EXPRESSES) {
  describe(`manageRouter (${label})`, () => {
    let gate, server

    const protectedRoute = (token) =>
      server.request('/v1/bots', { headers: token ? { authorization: `Bearer ${token}` } : {} })

    before(async () => {
      gate = await Gate.open(`sqlite:///${path.join(tempDir(), 'keys.db')}`)
      server = await serve(express, gate)
    })

    after(async () => {
      await server.close()
      await gate.close()
    })

    it('replays tests/vectors/manage.json over HTTP on a fresh store', async () => {
      const fresh = await Gate.open(`sqlite:///${path.join(tempDir(), 'vector.db')}`)
      const app = await serve(express, fresh)
      try {
        assert.ok(await replayVector(app) > 40)
      } finally {
        await app.close()
        await fresh.close()
      }
    })

    it('runs the whole card lifecycle; the token is in the create and regenerate answers only', async () => {
      const alice = userOf(server, 'alice')
      const { token, key } = await create(alice)
      const kid = key.id
      assert.equal(key.status, 'active')
      assert.ok(key.prefix.endsWith('…') && token.startsWith(key.prefix.slice(0, -1)), key.prefix)
      assert.ok(key.prefix.length < token.length / 2)

      assert.equal((await protectedRoute(token)).status, 200)
      assert.equal((await protectedRoute(token)).status, 200)
      let r = await alice.get(`keys/${kid}`)
      assert.equal(r.json.usage_count, 2, r.text)
      r = await alice.get(`keys/${kid}/usage?step=hour`)
      assert.equal(r.status, 200, r.text)
      assert.equal(r.json.buckets.reduce((n, b) => n + b.valid, 0), 2)

      r = await alice.post(`keys/${kid}/deactivate`)
      assert.equal(r.json.status, 'inactive')
      r = await protectedRoute(token)
      assert.equal(r.status, 401)
      assert.equal(r.json.code, 'inactive')

      r = await alice.post(`keys/${kid}/activate`)
      assert.equal(r.json.status, 'active')
      assert.equal((await protectedRoute(token)).status, 200)

      r = await alice.post(`keys/${kid}/regenerate`)
      assert.equal(r.status, 200, r.text)
      assert.equal(r.headers.get('cache-control'), 'no-store')
      const fresh = r.json.token
      assert.notEqual(fresh, token)
      assert.equal((await protectedRoute(token)).status, 401)
      assert.equal((await protectedRoute(fresh)).status, 200)

      r = await alice.post(`keys/${kid}/revoke`)
      assert.equal(r.json.status, 'revoked')
      r = await protectedRoute(fresh)
      assert.equal(r.status, 401)
      assert.equal(r.json.code, 'revoked')
      r = await alice.post(`keys/${kid}/activate`)
      assert.ok(r.status >= 400 && r.status < 500 && problemCode(r), r.text)

      r = await alice.get(`events?key=${kid}`)
      assert.deepEqual(r.json.events.map((e) => e.action), ['revoked', 'regenerated', 'activated', 'deactivated', 'issued'])
      assert.equal(r.json.events[0].actor, 'user:alice')

      for (const secret of [token, fresh]) {
        const carrying = alice.seen.filter(([, , res]) => res.text.includes(secret)).map(([m, p]) => [m, p])
        assert.equal(carrying.length, 1, JSON.stringify(carrying))
        assert.ok(carrying[0][0] === 'POST' && (carrying[0][1] === 'keys' || carrying[0][1].endsWith('/regenerate')))
      }
    })

    it("answers 404 for another owner's key on every route and never lists it", async () => {
      const alice = userOf(server, 'alice')
      const bob = userOf(server, 'bob')
      const theirs = (await create(bob, "bob's key")).key.id
      const mine = (await create(alice, "alice's key")).key.id
      for (const [method, p, payload] of [
        ['GET', `keys/${theirs}`],
        ['PATCH', `keys/${theirs}`, { name: 'mine now' }],
        ['POST', `keys/${theirs}/regenerate`, {}],
        ['POST', `keys/${theirs}/deactivate`, {}],
        ['POST', `keys/${theirs}/activate`, {}],
        ['POST', `keys/${theirs}/revoke`, {}],
        ['GET', `keys/${theirs}/usage`]
      ]) {
        const r = await alice.call(method, p, { payload })
        assert.equal(r.status, 404, `${method} ${p}: ${r.text}`)
        assert.equal(problemCode(r), 'not_found')
      }
      const listed = (await alice.get('keys')).json.keys.map((k) => k.id)
      assert.ok(listed.includes(mine) && !listed.includes(theirs))
      const r = await bob.get(`keys/${theirs}`)
      assert.equal(r.json.status, 'active')
      assert.equal(r.json.name, "bob's key")
    })

    it('refuses a cross-origin or non-JSON change', async () => {
      const alice = userOf(server, 'alice')
      const count = (await alice.get('keys')).json.keys.length
      const raw = JSON.stringify({ name: 'x' })
      const json = { 'content-type': 'application/json' }
      let r = await alice.call('POST', 'keys', { raw, headers: { ...json, origin: 'http://evil.example' }, sameOrigin: false })
      assert.equal(r.status, 403)
      assert.equal(problemCode(r), 'cross_origin')
      r = await alice.call('POST', 'keys', { raw, headers: { ...json, 'sec-fetch-site': 'cross-site' }, sameOrigin: false })
      assert.equal(r.status, 403)
      r = await alice.call('POST', 'keys', { raw, headers: json, sameOrigin: false })
      assert.equal(r.status, 403)
      r = await alice.call('POST', 'keys', { raw: 'name=x', headers: { 'content-type': 'text/plain' } })
      assert.equal(r.status, 415)
      assert.equal(problemCode(r), 'unsupported_media_type')
      assert.equal((await alice.get('keys')).json.keys.length, count)
    })

    it('keeps names with markup as data', async () => {
      const alice = userOf(server, 'alice')
      const name = '<img src=x onerror=alert(1)> "quoted" & </script>'
      const { key } = await create(alice, name)
      const r = await alice.get(`keys/${key.id}`)
      assert.equal(r.json.name, name)
      assert.match(r.headers.get('content-type'), /^application\/json/)
    })

    it('answers oversized bodies, names, scope lists and pages with 4xx problems', async () => {
      const alice = userOf(server, 'alice')
      let r = await alice.call('POST', 'keys', { raw: JSON.stringify({ name: 'x'.repeat(MAX_BODY_BYTES + 10) }), headers: { 'content-type': 'application/json' } })
      assert.equal(r.status, 413)
      assert.equal(problemCode(r), 'body_too_large')
      r = await alice.post('keys', { name: 'n'.repeat(201) })
      assert.equal(r.status, 400)
      assert.ok(problemCode(r))
      r = await alice.post('keys', { name: 'many', scopes: Array.from({ length: 500 }, (_, i) => `s${i}:read`) })
      assert.ok(r.status >= 400 && r.status < 500 && problemCode(r), r.text)
      r = await alice.get('keys?limit=101')
      assert.equal(r.status, 400)
      assert.equal((await alice.get('keys?limit=100')).status, 200)
    })

    it('answers 401 login_required when nobody is logged in', async () => {
      const anonymous = userOf(server, null)
      const r = await anonymous.get('keys')
      assert.equal(r.status, 401)
      assert.equal(problemCode(r), 'login_required')
      assert.equal(r.headers.get('www-authenticate'), null)
    })

    it('answers HEAD as GET without a body', async () => {
      const r = await server.request('/tokens/keys', { method: 'HEAD', headers: { [LOGIN_HEADER]: 'alice' } })
      assert.equal(r.status, 200)
      assert.equal(r.text, '')
      assert.match(r.headers.get('content-type'), /^application\/json/)
    })

    it('answers OPTIONS and HEAD as the core does, as the Python frameworks do', async () => {
      // The same table as tests/python/manage_http.py's OPTIONS_AND_HEAD.
      const user = userOf(server, 'alice')
      for (const [method, p, status, allow] of [
        ['OPTIONS', 'keys', 204, 'GET, HEAD, POST, OPTIONS'],
        ['OPTIONS', 'keys/key_0000000000000000', 204, 'GET, HEAD, PATCH, OPTIONS'],
        ['OPTIONS', 'keys/key_0000000000000000/revoke', 204, 'POST, OPTIONS'],
        ['OPTIONS', 'no/such/route', 404, null],
        ['HEAD', 'keys', 200, null],
        ['HEAD', 'no/such/route', 404, null]
      ]) {
        const r = await user.call(method, p, { sameOrigin: false })
        assert.deepEqual([r.status, r.headers.get('allow')], [status, allow], `${method} ${p}`)
        // HEAD and 204 answers have no body; OPTIONS on no route is the usual problem.
        if (method === 'HEAD' || status === 204) assert.equal(r.text, '', `${method} ${p}`)
        else assert.equal(problemCode(r), 'not_found', `${method} ${p}`)
        assert.equal(r.headers.get('access-control-allow-origin'), null)
      }
    })

    it('redirects the mount point to its slash', async () => {
      const r = await server.request('/tokens?x=1', { headers: { [LOGIN_HEADER]: 'alice' }, redirect: 'manual' })
      assert.equal(r.status, 308)
      assert.equal(r.headers.get('location'), '/tokens/?x=1')
    })

    it("records the client address as Express knows it (req.ip, after 'trust proxy')", async () => {
      for (const trust of [true, false]) {
        const app = express()
        if (trust) app.set('trust proxy', true)
        app.use('/tokens', manageRouter({ gate, principal: () => ({ owner: 'workspace:proxied', actor: 'user:proxied' }) }))
        const proxied = await listen(app)
        try {
          const r = await proxied.request('/tokens/keys', {
            method: 'POST',
            headers: { 'content-type': 'application/json', origin: proxied.base, 'x-forwarded-for': '203.0.113.7' },
            body: JSON.stringify({ name: `behind a proxy (trusted: ${trust})` })
          })
          assert.equal(r.status, 201, r.text)
          const { events } = await gate.events({ key: r.json.key.id })
          assert.equal(events.length, 1)
          // Trusted: the forwarded address; not trusted: the socket's (this
          // test's own connection to 127.0.0.1, as Node may spell it).
          if (trust) assert.equal(events[0].ip, '203.0.113.7')
          else assert.ok(['127.0.0.1', '::ffff:127.0.0.1'].includes(events[0].ip), events[0].ip)
        } finally {
          await proxied.close()
        }
      }
    })

    it('takes a body an Express parser already read', async () => {
      const app = express()
      app.use(express.json())
      app.use('/tokens', manageRouter({ gate, principal: () => ({ owner: 'workspace:parsed', actor: 'user:parsed' }) }))
      const parsed = await listen(app)
      try {
        const r = await parsed.request('/tokens/keys', {
          method: 'POST',
          headers: { 'content-type': 'application/json', origin: parsed.base },
          body: JSON.stringify({ name: 'through express.json()' })
        })
        assert.equal(r.status, 201, r.text)
        assert.equal(r.json.key.name, 'through express.json()')
      } finally {
        await parsed.close()
      }
    })
  })
}

describe('manageRouter arguments', () => {
  it('needs a gate and a principal function', () => {
    assert.throws(() => manageRouter({ principal: () => null }), /gate/)
    assert.throws(() => manageRouter({ gate: {}, principal: () => null }), /gate/)
  })

  it('refuses a principal without an owner unless it asks for operator mode', async () => {
    const gate = await Gate.open('memory://')
    try {
      const base = { method: 'GET', path: 'keys', query: '', headers: [], selfOrigin: 'http://x', body: Buffer.alloc(0) }
      await assert.rejects(gate.manage({ ...base, principal: { actor: 'user:1' } }), /operator/)
      const r = await gate.manage({ ...base, principal: { operator: true, actor: 'staff:ann' } })
      assert.equal(typeof r.status, 'number')
      assert.ok(Buffer.isBuffer(r.body))
    } finally {
      await gate.close()
    }
  })
})

describe('gate.manage', () => {
  // SQLite's write lock held by another process (Python's sqlite3 module:
  // Node 20 has no SQLite of its own). If manage ran on the main thread, the
  // timer below could not fire to release the lock before the core gave up
  // after its busy timeout (a 503).
  const python = ['python3', 'python'].find((p) => spawnSync(p, ['-c', 'import sqlite3']).status === 0)
  it('answers on the libuv pool: the event loop runs while the store waits', { skip: python === undefined && 'needs python3 with sqlite3 to hold the lock' }, async () => {
    const file = path.join(tempDir(), 'lock.db')
    const gate = await Gate.open(`sqlite:///${file}`)
    await gate.issue({ name: 'warm-up', subject: 'w' })
    const hold = [
      'import sqlite3, sys',
      'c = sqlite3.connect(sys.argv[1], isolation_level=None)',
      "c.execute('BEGIN EXCLUSIVE')",
      "print('locked', flush=True)",
      'sys.stdin.readline()',
      "c.execute('COMMIT')"
    ].join('\n')
    const holder = spawn(python, ['-c', hold, file], { stdio: ['pipe', 'pipe', 'inherit'] })
    try {
      const lines = readline.createInterface({ input: holder.stdout })
      const [first] = await Promise.race([
        new Promise((resolve) => lines.once('line', (l) => resolve([l]))),
        new Promise((resolve) => holder.once('exit', () => resolve([null])))
      ])
      assert.equal(first, 'locked')
      const pending = gate.manage({
        method: 'POST',
        path: 'keys',
        query: '',
        headers: [['Origin', 'http://app.example'], ['Content-Type', 'application/json']],
        selfOrigin: 'http://app.example',
        body: Buffer.from('{"name": "n"}'),
        principal: { owner: 'w', actor: 'user:w' }
      })
      await new Promise((resolve) => setTimeout(resolve, 300)) // lets the pool reach the lock; not an assertion
      holder.stdin.end('\n')
      const answer = await pending
      assert.equal(answer.status, 201, answer.body.toString())
    } finally {
      holder.kill()
      await gate.close()
    }
  })
})
