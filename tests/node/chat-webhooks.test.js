'use strict'
// Webhooks from the chat platforms: Meta's subscription handshake (the shared
// vectors and `metaSubscription` over HTTP), `token` in a custom header
// (Telegram), Standard Webhooks' Ed25519 form, and cross-checks in both
// directions with @line/bot-sdk, discord-interactions and tweetnacl.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')

const { WebhookVerifier, WebhookSigner, WebhookError, ConfigError, generateSecret, generateKeypair, publicKey, metaChallenge } = require('gatepass')
const { verifyWebhook, metaSubscription, problemDetails } = require('gatepass/express')
const { EXPRESSES, listen, loadVectors } = require('./helpers.js')

const vectors = loadVectors('webhooks')
const BODY = JSON.stringify({ event: 'message_created', text: 'héllo' })
const TG = 'X-Telegram-Bot-Api-Secret-Token'
const META_QUERY = 'hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatpacking'
// A rejected webhook is a 4xx; which one (400, or 401 for a bad signature)
// is the core's error table's to say, so these tests pin the code, not the number.
const rejected = (status) => status === 400 || status === 401

describe('meta_challenge vectors: tests/vectors/webhooks.json', { skip: vectors === null && 'webhooks.json not present' }, () => {
  for (const c of vectors?.meta_challenge ?? []) {
    it(c.name, () => {
      if (/^\d+$/.test(c.expect)) {
        assert.equal(metaChallenge(c.query, c.verify_tokens), c.expect)
      } else {
        assert.throws(() => metaChallenge(c.query, c.verify_tokens), (e) => {
          assert.ok(e instanceof WebhookError, `${e.name}: ${e.message}`)
          assert.equal(e.code, c.expect)
          for (const t of c.verify_tokens) assert.ok(!e.message.includes(t))
          return true
        })
      }
    })
  }
})

describe('key pairs and custom token headers', () => {
  it('standard: whsk_ signs v1a, whpk_ verifies, beside an HMAC secret', () => {
    const { signingKey, verifyingKey } = generateKeypair('standard')
    assert.ok(signingKey.startsWith('whsk_') && verifyingKey.startsWith('whpk_'))
    assert.equal(publicKey('standard', signingKey), verifyingKey)
    const headers = new WebhookSigner('standard', signingKey).sign(BODY)
    assert.ok(headers['webhook-signature'].startsWith('v1a,'))
    const hmacSecret = generateSecret('standard')
    const both = new WebhookVerifier('standard', { secrets: [hmacSecret, verifyingKey] })
    assert.equal(both.verify(BODY, headers).id, headers['webhook-id'])
    both.verify(BODY, new WebhookSigner('standard', hmacSecret).sign(BODY))
    assert.throws(() => both.verify(BODY + ' ', headers), { code: 'invalid_signature' })
    assert.throws(() => new WebhookVerifier('standard', { secret: signingKey }), ConfigError)
  })

  it('discord: a hex key pair; small-order keys are refused', () => {
    const { signingKey, verifyingKey } = generateKeypair('discord')
    const headers = new WebhookSigner('discord', signingKey).sign(BODY)
    const got = new WebhookVerifier('discord', { secret: verifyingKey }).verify(BODY, headers)
    assert.ok(got.timestamp instanceof Date)
    assert.throws(() => generateSecret('discord'), ConfigError)
    assert.throws(() => new WebhookVerifier('discord', { secret: '01' + '00'.repeat(31) }), ConfigError)
  })

  it('token: Telegram\'s header, compared whole', () => {
    const verifier = new WebhookVerifier('token', { secret: 'Tg_secret-123', header: TG })
    const headers = new WebhookSigner('token', 'Tg_secret-123', { header: TG }).sign('{}')
    assert.deepEqual(headers, { [TG.toLowerCase()]: 'Tg_secret-123' })
    verifier.verify('{}', headers)
    verifier.verify('{}', { [TG]: 'Tg_secret-123' })
    assert.throws(() => verifier.verify('{}', { [TG]: 'Bearer Tg_secret-123' }), { code: 'invalid_signature' })
    assert.throws(() => verifier.verify('{}', { authorization: 'Tg_secret-123' }), { code: 'missing_header' })
    assert.throws(() => new WebhookVerifier('token', { secret: 'x', header: 'not a header' }), ConfigError)
    assert.throws(() => new WebhookVerifier('github', { secret: 'x', header: TG }), ConfigError)
  })
})

for (const [label, express] of EXPRESSES) {
  describe(`metaSubscription and the chat schemes over HTTP (${label})`, () => {
    const meta = generateSecret('meta')
    let server

    before(async () => {
      const app = express()
      app.get('/hooks/meta', metaSubscription('meatpacking'))
      app.post('/hooks/meta', express.raw({ type: '*/*' }), verifyWebhook(new WebhookVerifier('meta', { secret: meta })), (req, res) => {
        res.json({ scheme: req.gatepassWebhook.scheme })
      })
      app.post('/hooks/telegram', express.raw({ type: '*/*' }), verifyWebhook(new WebhookVerifier('token', { secret: 'Tg_secret-123', header: TG })), (req, res) => {
        res.json({ ok: true })
      })
      app.use(problemDetails())
      server = await listen(app)
    })

    after(() => server.close())

    it('answers the handshake only for the verify token', async () => {
      const ok = await server.request('/hooks/meta?' + META_QUERY)
      assert.equal(ok.status, 200)
      assert.equal(ok.text, '1158201444')
      assert.match(ok.headers.get('content-type'), /^text\/plain/)
      const wrong = await server.request('/hooks/meta?' + META_QUERY.replace('meatpacking', 'guess'))
      assert.ok(rejected(wrong.status), wrong.status)
      assert.equal(wrong.json.code, 'invalid_signature')
      assert.ok(!wrong.text.includes('meatpacking'))
      const missing = await server.request('/hooks/meta')
      assert.equal(missing.status, 400)
      assert.equal(missing.json.code, 'missing_header')
    })

    it('verifies Meta deliveries and Telegram updates', async () => {
      const headers = new WebhookSigner('meta', meta).sign(BODY)
      const ok = await server.request('/hooks/meta', { method: 'POST', body: BODY, headers: { 'content-type': 'application/json', ...headers } })
      assert.equal(ok.status, 200, ok.text)
      const bad = await server.request('/hooks/meta', { method: 'POST', body: BODY + ' ', headers: { 'content-type': 'application/json', ...headers } })
      assert.ok(rejected(bad.status), bad.status)
      assert.equal(bad.json.code, 'invalid_signature')
      const tg = await server.request('/hooks/telegram', { method: 'POST', body: '{}', headers: { [TG]: 'Tg_secret-123' } })
      assert.equal(tg.status, 200, tg.text)
      const tgBad = await server.request('/hooks/telegram', { method: 'POST', body: '{}', headers: { [TG]: 'guess' } })
      assert.ok(rejected(tgBad.status), tgBad.status)
      assert.equal(tgBad.json.code, 'invalid_signature')
    })
  })
}

describe('cross-checks with the official libraries', () => {
  it('@line/bot-sdk: validateSignature accepts gatepass, and its signature verifies with gatepass', () => {
    const { validateSignature } = require('@line/bot-sdk')
    const secret = generateSecret('line')
    const ours = new WebhookSigner('line', secret).sign(BODY)['x-line-signature']
    assert.equal(validateSignature(BODY, secret, ours), true)
    assert.equal(validateSignature(BODY + ' ', secret, ours), false)
    // @line/bot-sdk has no signer; the HMAC its validator accepts verifies with gatepass
    const theirs = crypto.createHmac('sha256', secret).update(BODY).digest('base64')
    assert.equal(validateSignature(BODY, secret, theirs), true)
    new WebhookVerifier('line', { secret }).verify(BODY, { 'x-line-signature': theirs })
  })

  it('discord-interactions and tweetnacl: both directions', async () => {
    const { verifyKey } = require('discord-interactions')
    const nacl = require('tweetnacl')
    const { signingKey, verifyingKey } = generateKeypair('discord')
    const h = new WebhookSigner('discord', signingKey).sign(BODY)
    assert.equal(await verifyKey(Buffer.from(BODY), h['X-Signature-Ed25519'], h['X-Signature-Timestamp'], verifyingKey), true)
    assert.equal(await verifyKey(Buffer.from(BODY + ' '), h['X-Signature-Ed25519'], h['X-Signature-Timestamp'], verifyingKey), false)
    // tweetnacl signs (as Discord would) -> gatepass and discord-interactions accept
    const pair = nacl.sign.keyPair()
    const ts = String(Math.floor(Date.now() / 1000))
    const sig = Buffer.from(nacl.sign.detached(Buffer.from(ts + BODY), pair.secretKey)).toString('hex')
    const pk = Buffer.from(pair.publicKey).toString('hex')
    new WebhookVerifier('discord', { secret: pk }).verify(BODY, { 'x-signature-ed25519': sig, 'x-signature-timestamp': ts })
    assert.equal(await verifyKey(Buffer.from(BODY), sig, ts, pk), true)
    // tweetnacl's 64-byte secret key signs identically through gatepass (Ed25519 is deterministic)
    const mine = new WebhookSigner('discord', Buffer.from(pair.secretKey).toString('hex')).sign(BODY, { timestamp: Number(ts) })
    assert.equal(mine['X-Signature-Ed25519'], sig)
    const signed = Buffer.from(h['X-Signature-Timestamp'] + BODY)
    assert.equal(nacl.sign.detached.verify(signed, Buffer.from(h['X-Signature-Ed25519'], 'hex'), Buffer.from(verifyingKey, 'hex')), true)
  })

  it('tweetnacl: Standard Webhooks v1a both ways', () => {
    const nacl = require('tweetnacl')
    const { signingKey, verifyingKey } = generateKeypair('standard')
    const h = new WebhookSigner('standard', signingKey).sign(BODY)
    const content = Buffer.from(`${h['webhook-id']}.${h['webhook-timestamp']}.${BODY}`)
    const pub = Buffer.from(verifyingKey.slice('whpk_'.length), 'base64')
    assert.equal(nacl.sign.detached.verify(content, Buffer.from(h['webhook-signature'].slice(4), 'base64'), pub), true)
    const pair = nacl.sign.keyPair()
    const ts = String(Math.floor(Date.now() / 1000))
    const sig = Buffer.from(nacl.sign.detached(Buffer.from(`msg_1.${ts}.${BODY}`), pair.secretKey)).toString('base64')
    const whpk = 'whpk_' + Buffer.from(pair.publicKey).toString('base64')
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': ts, 'webhook-signature': 'v1a,' + sig }
    assert.equal(new WebhookVerifier('standard', { secret: whpk }).verify(BODY, headers).id, 'msg_1')
    assert.equal(publicKey('standard', 'whsk_' + Buffer.from(pair.secretKey).toString('base64')), whpk)
  })
})
