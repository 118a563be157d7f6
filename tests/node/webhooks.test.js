'use strict'
// Webhooks: the shared vectors, every scheme over HTTP through Express
// (express.raw), the parsed-body mistake, and cross-checks with the official
// libraries (sign with them -> verify with gatepass, and the reverse).

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')

const { WebhookVerifier, WebhookSigner, WebhookError, ConfigError, generateSecret, generateKeypair, webhookSchemes } = require('gatepass')
const { verifyWebhook, problemDetails } = require('gatepass/express')
const { EXPRESSES, listen, loadVectors } = require('./helpers.js')

const vectors = loadVectors('webhooks')
// The status of each error code, from the core's table (tests/vectors/errors.json).
const STATUS = Object.fromEntries(loadVectors('errors').cases.map((c) => [c.code, c.status]))

/** [signing key, verifying key]: an Ed25519 pair for discord, else one secret twice. */
function keyPair (scheme) {
  if (scheme === 'discord') {
    const { signingKey, verifyingKey } = generateKeypair(scheme)
    return [signingKey, verifyingKey]
  }
  const secret = generateSecret(scheme)
  return [secret, secret]
}

function vectorBody (v) {
  if (v.body_b64 !== undefined) return Buffer.from(v.body_b64, 'base64')
  if (v.body_repeat !== undefined) return Buffer.from(v.body_repeat.text.repeat(v.body_repeat.count), 'utf8')
  return Buffer.from(v.body ?? '', 'utf8')
}

describe('shared vectors: tests/vectors/webhooks.json', { skip: vectors === null && 'webhooks.json not present' }, () => {
  for (const v of vectors?.vectors ?? []) {
    it(`${v.scheme}: ${v.name}`, () => {
      const options = { secrets: v.secrets ?? [v.secret] }
      if (v.now !== null && v.now !== undefined) options.now = v.now * 1000
      if (v.tolerance === null) options.tolerance = null
      else if (v.tolerance !== undefined) options.tolerance = `${v.tolerance}s`
      if (v.allow_sha1 !== undefined) options.allowSha1 = v.allow_sha1
      if (v.header !== undefined) options.header = v.header
      const verifier = new WebhookVerifier(v.scheme, options)
      const run = () => verifier.verify(vectorBody(v), v.headers, { url: v.url })
      if (v.expect === 'valid') {
        const got = run()
        assert.equal(got.scheme, v.scheme)
      } else {
        assert.throws(run, (e) => {
          assert.ok(e instanceof WebhookError, `${e.name}: ${e.message}`)
          assert.equal(e.code, v.expect)
          assert.equal(e.status, STATUS[v.expect])
          for (const s of options.secrets) assert.ok(!e.message.includes(s))
          return true
        })
      }
    })
  }
})

describe('WebhookVerifier and WebhookSigner', () => {
  it('round-trips every scheme, with rotation and strict failures', () => {
    assert.deepEqual([...webhookSchemes], [
      'standard', 'stripe', 'github', 'slack', 'shopify', 'twilio', 'token', 'meta', 'line', 'discord', 'intercom', 'chatwoot'
    ])
    const body = Buffer.from(JSON.stringify({ event: 'message.created', text: 'héllo' }))
    const url = 'https://example.com/hooks/twilio?x=1'
    for (const scheme of webhookSchemes) {
      const [, oldSecret] = keyPair(scheme)
      const [signingKey, secret] = keyPair(scheme)
      assert.notEqual(oldSecret, secret)
      const headers = new WebhookSigner(scheme, signingKey).sign(body, { id: 'msg_1', url })
      const verifier = new WebhookVerifier(scheme, { secrets: [oldSecret, secret] })
      const got = verifier.verify(body, headers, { url })
      assert.equal(got.scheme, scheme)
      if (['standard', 'stripe', 'slack', 'discord', 'chatwoot'].includes(scheme)) assert.ok(got.timestamp instanceof Date)
      // Header names are matched case-insensitively; a Map and fetch Headers work too.
      const upper = Object.fromEntries(Object.entries(headers).map(([k, val]) => [k.toUpperCase(), val]))
      verifier.verify(body, upper, { url })
      verifier.verify(body, new Map(Object.entries(headers)), { url })
      verifier.verify(body, new Headers(headers), { url })
      verifier.verify(body.toString('utf8'), headers, url)
      if (scheme !== 'token') {
        assert.throws(() => verifier.verify(Buffer.concat([body, Buffer.from(' ')]), headers, { url }), { code: 'invalid_signature' })
      }
      assert.throws(() => verifier.verify(body, {}, { url }), { code: 'missing_header' })
      assert.throws(() => new WebhookVerifier(scheme, { secrets: [keyPair(scheme)[1]] }).verify(body, headers, { url }), (e) => e instanceof WebhookError)
    }
  })

  it('enforces the timestamp window both ways, and the replay guard', () => {
    const secret = generateSecret('standard')
    const signer = new WebhookSigner('standard', secret)
    const body = '{"a":1}'
    const now = Math.floor(Date.now() / 1000)
    const verifier = new WebhookVerifier('standard', { secret, replayGuard: true })
    assert.throws(() => verifier.verify(body, signer.sign(body, { timestamp: now - 301 })), { code: 'timestamp_too_old' })
    assert.throws(() => verifier.verify(body, signer.sign(body, { timestamp: new Date((now + 400) * 1000) })), { code: 'timestamp_too_new' })
    const headers = signer.sign(body, { id: 'msg_once' })
    verifier.verify(body, headers)
    assert.throws(() => verifier.verify(body, headers), { code: 'replayed' })
    const loose = new WebhookVerifier('standard', { secret, tolerance: null })
    loose.verify(body, signer.sign(body, { timestamp: 1 }))
    const narrow = new WebhookVerifier('standard', { secret, tolerance: '10s' })
    assert.throws(() => narrow.verify(body, signer.sign(body, { timestamp: now - 60 })), { code: 'timestamp_too_old' })
  })

  it('reports misuse clearly and keeps secrets out of errors and inspect', () => {
    const secret = generateSecret('github')
    assert.throws(() => new WebhookVerifier('svix2', { secrets: [secret] }), (e) => e instanceof ConfigError && e.code === 'config_error')
    assert.throws(() => new WebhookVerifier('github', { secrets: [] }), { code: 'config_error' })
    assert.throws(() => new WebhookVerifier('standard', { secrets: ['whsec_!!!'] }), (e) => e.code === 'config_error' && !e.message.includes('!!!'))
    assert.throws(() => new WebhookVerifier('github', { secrets: [secret], tolrance: 5 }), { code: 'invalid_argument' })
    const verifier = new WebhookVerifier('github', { secrets: [secret] })
    assert.throws(() => verifier.verify({ parsed: true }, {}), (e) => e instanceof ConfigError && /express\.raw/.test(e.message))
    assert.throws(() => new WebhookSigner('twilio', generateSecret('twilio')).sign('x'), { code: 'config_error' })
    const util = require('node:util')
    assert.ok(!util.inspect(verifier).includes(secret))
    assert.ok(!util.inspect(new WebhookSigner('github', secret)).includes(secret))
  })
})

// The public base the routes are configured with: twilio signs the URL, and
// verifyWebhook never takes its host from the request.
const PUBLIC = 'https://hooks.example.com'

for (const [label, express] of EXPRESSES) {
  describe(`verifyWebhook over HTTP (${label})`, () => {
    const pairs = Object.fromEntries(webhookSchemes.map((s) => [s, keyPair(s)]))
    const secrets = Object.fromEntries(webhookSchemes.map((s) => [s, pairs[s][1]]))
    let server

    before(async () => {
      const app = express()
      for (const scheme of webhookSchemes) {
        const verifier = new WebhookVerifier(scheme, { secrets: [secrets[scheme]] })
        app.post(`/hooks/${scheme}`, express.raw({ type: '*/*' }), verifyWebhook(verifier, { baseUrl: PUBLIC }), (req, res) => {
          res.json({ scheme: req.gatepassWebhook.scheme, id: req.gatepassWebhook.id, bytes: req.body.length })
        })
      }
      const github = new WebhookVerifier('github', { secrets: [secrets.github] })
      app.post('/parsed', express.json(), verifyWebhook(github), (req, res) => res.json({ ok: true }))
      app.use(problemDetails())
      app.use((err, req, res, next) => res.status(err.status ?? 500).json({ message: err.message, code: err.code }))
      server = await listen(app)
    })

    after(() => server.close())

    for (const scheme of webhookSchemes) {
      it(`${scheme}: a signed delivery passes, a tampered one gets a 401 problem`, async () => {
        const body = JSON.stringify({ type: 'conversation.updated', id: 42 })
        const url = `${PUBLIC}/hooks/${scheme}`
        const headers = new WebhookSigner(scheme, pairs[scheme][0]).sign(body, { id: 'evt_1', url })
        const ok = await server.request(`/hooks/${scheme}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } })
        assert.equal(ok.status, 200, ok.text)
        assert.equal(ok.json.scheme, scheme)
        assert.equal(ok.json.bytes, Buffer.byteLength(body))
        const bad = await server.request(`/hooks/${scheme}`, { method: 'POST', body: body.replace('42', '43'), headers: { 'content-type': 'application/json', ...headers } })
        if (scheme === 'token') {
          assert.equal(bad.status, 200, 'the token scheme signs no body')
        } else {
          // 401 with a challenge, as in every framework and both languages.
          assert.equal(bad.status, 401)
          assert.equal(bad.headers.get('content-type'), 'application/problem+json')
          assert.equal(bad.headers.get('www-authenticate'), `Signature realm="webhook", scheme="${scheme}"`)
          assert.equal(bad.json.code, 'invalid_signature')
          assert.equal(bad.json.status, 401)
        }
        const missing = await server.request(`/hooks/${scheme}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })
        assert.equal(missing.status, 400)
        assert.equal(missing.json.code, 'missing_header')
      })
    }

    it('a delivery with no body and no Content-Type is refused like any other (400 missing_header), not a 500', async () => {
      const res = await server.request('/hooks/standard', { method: 'POST' })
      assert.equal(res.status, 400, res.text)
      assert.equal(res.json.code, 'missing_header')
    })

    it('fails with a clear message when express.json() parsed the body first', async () => {
      const body = '{"a":1}'
      const headers = new WebhookSigner('github', secrets.github).sign(body)
      const res = await server.request('/parsed', { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } })
      assert.equal(res.status, 500)
      assert.equal(res.json.code, 'config_error')
      assert.match(res.json.message, /already parsed/)
      assert.match(res.json.message, /express\.raw/)
    })
  })
}

describe('cross-checks with the official libraries', () => {
  const payload = JSON.stringify({ type: 'invoice.paid', data: { id: 'in_1', amount: 1299 } })

  it('standardwebhooks: its signatures verify with gatepass, and gatepass signatures with it', () => {
    const { Webhook } = require('standardwebhooks')
    const secret = generateSecret('standard')
    const theirs = new Webhook(secret)
    const now = new Date()
    const signature = theirs.sign('msg_std', now, payload)
    const headers = { 'webhook-id': 'msg_std', 'webhook-timestamp': String(Math.floor(now / 1000)), 'webhook-signature': signature }
    assert.equal(new WebhookVerifier('standard', { secret }).verify(payload, headers).id, 'msg_std')
    const ours = new WebhookSigner('standard', secret).sign(payload, { id: 'msg_ours' })
    assert.deepEqual(theirs.verify(payload, ours), JSON.parse(payload))
  })

  it('svix: its signatures verify with gatepass (svix-* headers), and gatepass signatures with it', () => {
    const { Webhook } = require('svix')
    const secret = generateSecret('standard')
    const theirs = new Webhook(secret)
    const now = new Date()
    const signature = theirs.sign('msg_svix', now, payload)
    const headers = { 'svix-id': 'msg_svix', 'svix-timestamp': String(Math.floor(now / 1000)), 'svix-signature': signature }
    assert.equal(new WebhookVerifier('standard', { secret }).verify(payload, headers).id, 'msg_svix')
    const ours = new WebhookSigner('standard', secret).sign(payload)
    const svixHeaders = { 'svix-id': ours['webhook-id'], 'svix-timestamp': ours['webhook-timestamp'], 'svix-signature': ours['webhook-signature'] }
    assert.deepEqual(theirs.verify(payload, svixHeaders), JSON.parse(payload))
  })

  it('stripe: generateTestHeaderString verifies with gatepass, and constructEvent accepts gatepass', () => {
    const Stripe = require('stripe')
    const stripe = new Stripe('sk_test_not_used_offline')
    const secret = generateSecret('stripe')
    const header = stripe.webhooks.generateTestHeaderString({ payload, secret })
    assert.ok(new WebhookVerifier('stripe', { secret }).verify(payload, { 'stripe-signature': header }).timestamp instanceof Date)
    const ours = new WebhookSigner('stripe', secret).sign(payload)
    const event = stripe.webhooks.constructEvent(payload, ours['Stripe-Signature'] ?? ours['stripe-signature'], secret)
    assert.equal(event.type, 'invoice.paid')
  })

  it('@octokit/webhooks-methods: sign verifies with gatepass, and verify accepts gatepass', async () => {
    const octokit = await import('@octokit/webhooks-methods')
    const secret = generateSecret('github')
    const signature = await octokit.sign(secret, payload)
    new WebhookVerifier('github', { secret }).verify(payload, { 'x-hub-signature-256': signature })
    const ours = new WebhookSigner('github', secret).sign(payload)
    const header = ours['X-Hub-Signature-256'] ?? ours['x-hub-signature-256']
    assert.equal(await octokit.verify(secret, payload, header), true)
    assert.equal(await octokit.verify(secret, payload + ' ', header), false)
  })
})
