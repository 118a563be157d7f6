'use strict'
// Every verification outcome over HTTP, through a real Express app (4 and 5)
// on a real SQLite store: status, headers and RFC 9457 body.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')

const { Gate, AuthError, Unauthorized, Forbidden, RateLimited } = require('gatepass')
const { authenticate, requireScopes, requireAnyScope, requireScopeExpression, problemDetails } = require('gatepass/express')
const { EXPRESSES, listen, loadVectors, tempDir } = require('./helpers.js')

const outcomes = loadVectors('outcomes')
const expectedOutcome = Object.fromEntries(outcomes.outcomes.map((o) => [o.code, o]))
const UNKNOWN_TOKEN = loadVectors('tokens').valid.find((t) => t.prefix === 'gp').token
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function checkProblem (res, code) {
  const expected = expectedOutcome[code]
  assert.equal(res.status, expected.status, `${code}: status`)
  assert.equal(res.headers.get('content-type'), 'application/problem+json', `${code}: content type`)
  assert.equal(res.json.type, 'about:blank')
  assert.equal(res.json.status, expected.status)
  assert.equal(res.json.code, code)
  assert.equal(typeof res.json.title, 'string')
  assert.equal(typeof res.json.detail, 'string')
  const challenge = res.headers.get('www-authenticate')
  if (expected.challenge_error === null) {
    assert.equal(challenge, null, `${code}: no challenge`)
  } else if (expected.challenge_error === 'challenges') {
    assert.equal(challenge, expected.www_authenticate)
  } else {
    assert.match(challenge, new RegExp(`error="${expected.challenge_error}"`), `${code}: challenge`)
    assert.match(challenge, /realm="api"/)
  }
  if (expected.status === 429) {
    assert.match(res.headers.get('ratelimit-policy') ?? '', /^"key";q=\d+;w=\d+$/)
    assert.match(res.headers.get('ratelimit') ?? '', /^"key";r=\d+;t=\d+$/)
    assert.equal(res.headers.get('retry-after') !== null, expected.retry_after, `${code}: Retry-After`)
  }
}

for (const [label, express] of EXPRESSES) {
  describe(`authenticate over HTTP (${label})`, () => {
    let gate, server, dir
    const tokens = {}

    before(async () => {
      dir = tempDir()
      gate = await Gate.open(`sqlite:///${path.join(dir, 'keys.db')}`)
      const issue = async (name, options = {}) => {
        const issued = await gate.issue({ name, scopes: ['bots:write'], ...options })
        tokens[name] = issued.token
        return issued
      }
      await issue('good', { subject: 'agent_42' })
      await gate.deactivate((await issue('inactive')).key.id)
      await gate.revoke((await issue('revoked')).key.id)
      await issue('expired', { expiresIn: '50ms' })
      await issue('bound', { resource: 'channel:a' })
      await issue('reader', { scopes: ['channels:read'] })
      await issue('limited', { rateLimit: '2/minute' })
      await issue('credits', { remaining: 1, rateLimit: '100/minute' })
      await issue('admin', { scopes: ['admin'] })
      await sleep(80)

      const app = express()
      app.get('/bots', authenticate(gate, { scopes: ['bots:read'] }), (req, res) => {
        res.json({ key: req.gatepass.key.id, subject: req.gatepass.key.subject, ok: req.gatepass.verification.ok })
      })
      app.get('/channels/:channel', authenticate(gate, { resource: (req) => `channel:${req.params.channel}` }), (req, res) => res.json({ ok: true }))
      app.get('/all', authenticate(gate), requireScopes('bots:read', 'channels:write'), (req, res) => res.json({ ok: true }))
      app.get('/any', authenticate(gate), requireAnyScope('channels:write', 'bots:read'), (req, res) => res.json({ ok: true }))
      app.get('/expr', authenticate(gate), requireScopes('bots:read and (channels:write or admin)'), (req, res) => res.json({ ok: true }))
      app.get('/expr2', authenticate(gate), requireScopeExpression('channels:read or admin'), (req, res) => res.json({ ok: true }))
      app.get('/optional', authenticate(gate, { optional: true }), (req, res) => res.json({ authenticated: req.gatepass !== undefined }))
      app.get('/unauthenticated', requireScopes('bots:read'), (req, res) => res.json({ ok: true }))
      app.use(problemDetails())
      app.use((err, req, res, next) => res.status(500).json({ fallback: err.message, code: err.code }))
      server = await listen(app)
    })

    after(async () => {
      await server.close()
      await gate.close()
    })

    const get = (pathname, token, scheme = 'Bearer') =>
      server.request(pathname, { headers: token === undefined ? {} : { authorization: `${scheme} ${token}` } })

    it('valid: passes through with req.gatepass', async () => {
      const res = await get('/bots', tokens.good)
      assert.equal(res.status, 200)
      assert.equal(res.json.ok, true)
      assert.equal(res.json.subject, 'agent_42')
      assert.match(res.json.key, /^key_/)
      assert.equal(res.headers.get('www-authenticate'), null)
      const lower = await get('/bots', tokens.good, 'token')
      assert.equal(lower.status, 200, 'scheme is case-insensitive')
    })

    it('missing_credentials: 401 with a challenge per scheme', async () => {
      checkProblem(await get('/bots'), 'missing_credentials')
      checkProblem(await get('/bots', 'dXNlcjpwYXNz', 'Basic'), 'missing_credentials')
    })

    it('invalid_request: 400', async () => {
      checkProblem(await get('/bots', 'a b'), 'invalid_request')
      const two = await server.request('/bots', { headers: { authorization: `Bearer ${tokens.good}, Bearer ${tokens.good}` } })
      checkProblem(two, 'invalid_request')
    })

    it('malformed_token and unknown_key: 401 invalid_token', async () => {
      checkProblem(await get('/bots', 'gp_abc'), 'malformed_token')
      checkProblem(await get('/bots', tokens.good.slice(0, -1) + (tokens.good.endsWith('a') ? 'b' : 'a')), 'malformed_token')
      checkProblem(await get('/bots', UNKNOWN_TOKEN), 'unknown_key')
    })

    it('inactive, revoked, expired: 401 invalid_token', async () => {
      checkProblem(await get('/bots', tokens.inactive), 'inactive')
      checkProblem(await get('/bots', tokens.revoked), 'revoked')
      checkProblem(await get('/bots', tokens.expired), 'expired')
    })

    it('forbidden_resource: 403 without a challenge', async () => {
      assert.equal((await get('/channels/a', tokens.bound)).status, 200)
      checkProblem(await get('/channels/b', tokens.bound), 'forbidden_resource')
    })

    it('insufficient_scope: 403 naming the missing scopes', async () => {
      const res = await get('/bots', tokens.reader)
      checkProblem(res, 'insufficient_scope')
      assert.deepEqual(res.json.missing_scopes, ['bots:read'])
      assert.match(res.headers.get('www-authenticate'), /scope="bots:read"/)
    })

    it('rate_limited: 429 with Retry-After and RateLimit headers', async () => {
      const first = await get('/bots', tokens.limited)
      assert.equal(first.status, 200)
      assert.equal(first.headers.get('ratelimit-policy'), '"key";q=2;w=60')
      assert.match(first.headers.get('ratelimit'), /^"key";r=1;t=\d+$/)
      assert.equal((await get('/bots', tokens.limited)).status, 200)
      const third = await get('/bots', tokens.limited)
      checkProblem(third, 'rate_limited')
      assert.ok(Number(third.headers.get('retry-after')) >= 1)
    })

    it('usage_exceeded: 429 without Retry-After', async () => {
      assert.equal((await get('/bots', tokens.credits)).status, 200)
      checkProblem(await get('/bots', tokens.credits), 'usage_exceeded')
    })

    it('requireScopes: all of a list, any of a list, expressions', async () => {
      checkProblem(await get('/all', tokens.good), 'insufficient_scope')
      assert.equal((await get('/all', tokens.admin)).status, 200)
      assert.equal((await get('/any', tokens.good)).status, 200)
      const any = await get('/any', tokens.reader)
      checkProblem(any, 'insufficient_scope')
      assert.deepEqual(any.json.missing_scopes, ['channels:write', 'bots:read'])
      assert.equal((await get('/expr', tokens.admin)).status, 200)
      const expr = await get('/expr', tokens.good)
      checkProblem(expr, 'insufficient_scope')
      assert.equal((await get('/expr2', tokens.reader)).status, 200)
      checkProblem(await get('/expr2', tokens.good), 'insufficient_scope')
      // Authentication failures stop before the scope check.
      checkProblem(await get('/all'), 'missing_credentials')
    })

    it('optional: requests without credentials pass through, bad ones do not', async () => {
      assert.deepEqual((await get('/optional')).json, { authenticated: false })
      assert.deepEqual((await get('/optional', tokens.good)).json, { authenticated: true })
      checkProblem(await get('/optional', tokens.revoked), 'revoked')
    })

    it('requireScopes without authenticate is a clear configuration error', async () => {
      const res = await get('/unauthenticated', tokens.good)
      assert.equal(res.status, 500)
      assert.equal(res.json.code, 'config_error')
      assert.match(res.json.fallback, /authenticate\(gate\)/)
    })

    it('usage is counted once per request and survives close', async () => {
      const before = (await gate.get((await gate.list({ subject: 'agent_42' })).keys[0].id)).usageCount
      await get('/expr', tokens.good)
      const after = (await gate.list({ subject: 'agent_42' })).keys[0]
      assert.equal(after.usageCount, before + 1)
      assert.ok(after.lastUsedAt instanceof Date)
    })
  })

  describe(`where req.gatepass lives (${label})`, () => {
    let gate, token, server
    const seen = []

    before(async () => {
      gate = await Gate.open('memory://')
      token = (await gate.issue({ name: 'placed', scopes: ['bots:read'] })).token
      const app = express()
      const inner = express()
      const look = (req, res, next) => {
        seen.push({ own: Object.hasOwn(req, 'gatepass'), localsKeys: Object.keys(res.locals) })
        next()
      }
      app.get('/direct', authenticate(gate), look, requireScopes('bots:read'), (req, res) => res.json({ key: req.gatepass.key.name }))
      // Authenticated in the parent app, handled in a mounted sub-app with its own request prototype.
      app.use('/mounted', authenticate(gate), inner)
      inner.get('/bots', requireScopes('bots:read'), (req, res) => res.json({ key: req.gatepass.key.name }))
      app.get('/unauthenticated', (req, res) => res.json({ gatepass: req.gatepass === undefined ? 'undefined' : 'set' }))
      // A handler may still assign req.gatepass itself (a test double, its own scheme).
      app.get('/assigned', authenticate(gate), (req, res, next) => {
        const replaced = { key: { name: 'assigned' }, verification: req.gatepass.verification, gate }
        req.gatepass = replaced
        res.json({ key: req.gatepass.key.name, same: req.gatepass === replaced, own: Object.hasOwn(req, 'gatepass') })
      })
      app.use(problemDetails())
      server = await listen(app)
    })

    after(async () => {
      await server.close()
      await gate.close()
    })

    const auth = () => ({ headers: { authorization: `Bearer ${token}` } })

    it('is read through Express\'s request prototype, not added to each request', async () => {
      seen.length = 0
      for (let i = 0; i < 2; i++) {
        const res = await server.request('/direct', auth())
        assert.equal(res.status, 200)
        assert.equal(res.json.key, 'placed')
      }
      assert.deepEqual(seen, [{ own: false, localsKeys: [] }, { own: false, localsKeys: [] }], 'no own property; nothing enumerable in res.locals')
      const { IncomingMessage } = require('node:http')
      assert.equal(Object.hasOwn(IncomingMessage.prototype, 'gatepass'), false, "Node's own prototype is left alone")
    })

    it('reaches a sub-app mounted after authenticate', async () => {
      const res = await server.request('/mounted/bots', auth())
      assert.equal(res.status, 200)
      assert.equal(res.json.key, 'placed')
      const denied = await server.request('/mounted/bots')
      assert.equal(denied.status, 401)
    })

    it('is undefined on requests that did not pass authenticate', async () => {
      await server.request('/direct', auth())
      const res = await server.request('/unauthenticated', auth())
      assert.equal(res.json.gatepass, 'undefined')
    })

    it('can be assigned by a handler, as an own property', async () => {
      const res = await server.request('/assigned', auth())
      assert.deepEqual(res.json, { key: 'assigned', same: true, own: true })
    })
  })

  describe(`Express's default error handler (${label})`, () => {
    it('answers with the status and the challenge headers', async () => {
      const gate = await Gate.open('memory://')
      const { token } = await gate.issue({ name: 'r', scopes: ['channels:read'] })
      const app = express()
      app.set('env', 'test') // keeps the default handler from logging the expected errors
      app.get('/bots', authenticate(gate), requireScopes('bots:read'), (req, res) => res.send('ok'))
      const server = await listen(app)
      try {
        const missing = await server.request('/bots')
        assert.equal(missing.status, 401)
        assert.equal(missing.headers.get('www-authenticate'), 'Bearer realm="api", Token realm="api"')
        const forbidden = await server.request('/bots', { headers: { authorization: `Bearer ${token}` } })
        assert.equal(forbidden.status, 403)
        assert.match(forbidden.headers.get('www-authenticate'), /insufficient_scope/)
      } finally {
        await server.close()
        await gate.close()
      }
    })
  })
}

describe('authenticate when setting its results fails', () => {
  for (const [label, express] of EXPRESSES) {
    it(`passes the error to next(), on the thread-pool path and the cached path (${label})`, async () => {
      const gate = await Gate.open('memory://')
      const { token } = await gate.issue({ name: 'frozen', scopes: ['bots:read'] })
      const app = express()
      // A response whose locals cannot take gatepass's context.
      app.use((req, res, next) => { res.locals = Object.freeze(Object.create(null)); next() })
      app.get('/bots', authenticate(gate), (req, res) => res.json({ ok: true }))
      app.use((err, req, res, next) => res.status(500).json({ error: err.name }))
      const server = await listen(app)
      try {
        // The first request finds the key in the store (a Promise), the next in the cache.
        for (const path of ['first', 'second']) {
          const res = await server.request('/bots', { headers: { authorization: `Bearer ${token}` } })
          assert.equal(res.status, 500, path)
          assert.deepEqual(res.json, { error: 'TypeError' }, path)
        }
      } finally {
        await server.close()
        await gate.close()
      }
    })
  }
})

describe('authenticate outside Express', () => {
  it('sets req.gatepass as an own property on plain objects and on a bare node:http request', async () => {
    const gate = await Gate.open('memory://')
    const { token } = await gate.issue({ name: 'bare', scopes: ['bots:read'] })
    const middleware = authenticate(gate, { scopes: ['bots:read'] })
    const run = (req, res) => new Promise((resolve, reject) => middleware(req, res, (err) => (err ? reject(err) : resolve())))
    const plain = { headers: { authorization: `Bearer ${token}` } }
    await run(plain, { setHeader () {} })
    assert.equal(plain.gatepass.key.name, 'bare')
    const withLocals = { headers: { authorization: `Bearer ${token}` } }
    await run(withLocals, { setHeader () {}, locals: {} })
    assert.ok(Object.hasOwn(withLocals, 'gatepass'), 'no req.res to reach res.locals through: an own property')
    assert.equal(withLocals.gatepass.key.name, 'bare')

    const http = require('node:http')
    const server = http.createServer((req, res) => {
      middleware(req, res, (err) => {
        res.end(err ? `error ${err.code}` : `${Object.hasOwn(req, 'gatepass')} ${req.gatepass.key.name}`)
      })
    })
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const res = await fetch(`http://127.0.0.1:${server.address().port}/`, { headers: { authorization: `Bearer ${token}` } })
      assert.equal(await res.text(), 'true bare')
      assert.equal(Object.hasOwn(http.IncomingMessage.prototype, 'gatepass'), false)
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await gate.close()
    }
  })
})

describe('errors a handler can use', () => {
  it('authenticate() rejects with AuthError subclasses carrying status, headers and problem', async () => {
    const gate = await Gate.open('memory://')
    const { token } = await gate.issue({ name: 'r', scopes: ['channels:read'], rateLimit: '1/hour' })
    await assert.rejects(gate.authenticate(undefined), (e) => e instanceof Unauthorized && e.status === 401 && e.code === 'missing_credentials')
    await assert.rejects(gate.authenticate(`Bearer ${token}`, { scopes: ['bots:read'] }), (e) => {
      assert.ok(e instanceof Forbidden && e instanceof AuthError && e instanceof Error)
      assert.equal(e.status, 403)
      assert.deepEqual(e.missingScopes, ['bots:read'])
      assert.equal(e.problem.code, 'insufficient_scope')
      assert.deepEqual(JSON.parse(JSON.stringify(e)), e.problem)
      assert.ok(!e.message.includes(token) && !e.stack.includes(token))
      return true
    })
    const key = await gate.authenticate(`Bearer ${token}`)
    assert.equal(key.name, 'r')
    await assert.rejects(gate.authenticate(`Bearer ${token}`), (e) => e instanceof RateLimited && e.headers['Retry-After'] !== undefined)
    await gate.close()
  })

  it('a scope typo fails when the route is declared, against the policy catalogue', async () => {
    const gate = await Gate.open('memory://', { policy: { scopes: ['bots:read', 'bots:write'] } })
    assert.throws(() => authenticate(gate, { scopes: ['bots:raed'] }), { code: 'unknown_scope' })
    assert.throws(() => authenticate(gate, { scopes: 'bots:read and (' }), { code: 'invalid_scope_expression' })
    assert.throws(() => requireScopes('bots:'), { code: 'invalid_scope' })
    assert.throws(() => authenticate(gate, { scope: ['bots:read'] }), { code: 'invalid_argument' })
    authenticate(gate, { scopes: 'bots:read or admin' })
    await gate.close()
  })
})
