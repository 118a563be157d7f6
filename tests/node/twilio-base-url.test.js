'use strict'
// Twilio signs the public URL it calls. verifyWebhook builds that URL from
// configuration (baseUrl + req.originalUrl), never from the client's Host
// header, and a twilio route without it is a configuration error. Checked
// over a real HTTP server with spoofed Host headers.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')

const { WebhookVerifier, WebhookSigner, ConfigError } = require('gatepass')
const { verifyWebhook, problemDetails } = require('gatepass/express')
const { EXPRESSES, listen } = require('./helpers.js')

const TOKEN = 'twilio-auth-token-for-tests'
const BASE = 'https://hooks.example.com'
const FORM = 'MessageSid=SM1&From=%2B14155550100&Body=hello'

/** POST with exactly these headers (fetch would not let us set Host). */
function post (server, path, headers) {
  const { port } = new URL(server.base)
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(FORM) } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c) => { text += c })
      res.on('end', () => resolve({ status: res.statusCode, text }))
    })
    req.on('error', reject)
    req.end(FORM)
  })
}

function signedFor (url) {
  return { ...new WebhookSigner('twilio', TOKEN).sign(FORM, { url }), 'content-type': 'application/x-www-form-urlencoded' }
}

for (const [label, express] of EXPRESSES) {
  describe(`verifyWebhook twilio with baseUrl (${label})`, () => {
    let server

    before(async () => {
      const app = express()
      const verifier = new WebhookVerifier('twilio', { secret: TOKEN })
      app.post('/twilio/sms', express.raw({ type: '*/*' }), verifyWebhook(verifier, { baseUrl: `${BASE}/` }), (req, res) => res.json({ ok: true }))
      app.use(problemDetails())
      server = await listen(app)
    })

    after(() => server.close())

    it('verifies against the configured base whatever Host says', async () => {
      const path = '/twilio/sms?tenant=7'
      const genuine = signedFor(BASE + path)
      for (const host of ['hooks.example.com', 'attacker.example', '127.0.0.1']) {
        const res = await post(server, path, { ...genuine, host })
        assert.equal(res.status, 200, `${host}: ${res.text}`)
      }
    })

    it('a delivery signed for another host does not verify by claiming that host', async () => {
      const path = '/twilio/sms?tenant=7'
      // http: what a plain-HTTP server (this one) would have rebuilt from Host
      for (const origin of ['http://other.example', 'https://other.example']) {
        const res = await post(server, path, { ...signedFor(origin + path), host: 'other.example' })
        assert.notEqual(res.status, 200, origin)
        assert.equal(JSON.parse(res.text).code, 'invalid_signature')
      }
    })

    it('the path and query are the request\'s own', async () => {
      const res = await post(server, '/twilio/sms?tenant=8', signedFor(`${BASE}/twilio/sms?tenant=7`))
      assert.equal(JSON.parse(res.text).code, 'invalid_signature')
    })
  })
}

describe('verifyWebhook twilio configuration', () => {
  const verifier = new WebhookVerifier('twilio', { secret: TOKEN })

  it('refuses a twilio route without baseUrl or url', () => {
    assert.throws(() => verifyWebhook(verifier), (e) => {
      assert.ok(e instanceof ConfigError)
      assert.equal(e.code, 'config_error')
      assert.match(e.message, /baseUrl/)
      return true
    })
    for (const bad of ['hooks.example.com', 'ftp://hooks.example.com', 'https://hooks.example.com/?x=1', 42]) {
      assert.throws(() => verifyWebhook(verifier, { baseUrl: bad }), { code: 'config_error' })
    }
  })

  it('asks the core which schemes sign the URL (verifier.signsUrl)', () => {
    assert.equal(new WebhookVerifier('twilio', { secret: TOKEN }).signsUrl, true)
    assert.equal(new WebhookVerifier('github', { secret: 'gh' }).signsUrl, false)
  })

  it('other schemes need no URL; an explicit url still works', () => {
    verifyWebhook(new WebhookVerifier('github', { secret: 'gh' }))
    verifyWebhook(verifier, { url: (req) => `${BASE}${req.originalUrl}` })
  })
})
