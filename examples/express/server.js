'use strict'
// A small Platform API guarded by gatepass. Start it with:
//
//   node examples/express/server.js
//
// It opens (or creates) ./gatepass.db, issues a demo key on first start and
// prints it once, then serves:
//
//   GET  /v1/bots          needs bots:read         curl -H "Authorization: Bearer $TOKEN" localhost:3000/v1/bots
//   POST /v1/bots          needs bots:write
//   POST /hooks/standard   a Standard Webhooks delivery, verified on the raw body
//
// PORT (default 3000) and GATEPASS_STORE (default sqlite:///gatepass.db) are read from the environment.

const express = require('express')
const { Gate, WebhookVerifier, generateSecret } = require('gatepass')
const { authenticate, requireScopes, verifyWebhook, problemDetails } = require('gatepass/express')

async function main () {
  const gate = await Gate.open(process.env.GATEPASS_STORE, {
    policy: { realm: 'example', scopes: ['bots:read', 'bots:write', 'channels:read'] }
  })
  if ((await gate.list({ subject: 'demo', limit: 1 })).keys.length === 0) {
    const { token } = await gate.issue({ name: 'Demo key', subject: 'demo', scopes: ['bots:write'], rateLimit: '600/minute' })
    console.log(`demo token (shown once): ${token}`)
  }
  const webhookSecret = process.env.WEBHOOK_SECRET || generateSecret('standard')
  const verifier = new WebhookVerifier('standard', { secrets: [webhookSecret] })

  const app = express()
  app.get('/v1/bots', authenticate(gate), requireScopes('bots:read'), (req, res) => {
    res.json({ bots: [], key: req.gatepass.key.id })
  })
  app.post('/v1/bots', authenticate(gate, { scopes: ['bots:write'] }), express.json(), (req, res) => {
    res.status(201).json({ created: req.body, by: req.gatepass.key.subject })
  })
  app.post('/hooks/standard', express.raw({ type: '*/*' }), verifyWebhook(verifier), (req, res) => {
    const event = JSON.parse(req.body)
    res.json({ received: req.gatepassWebhook.id, type: event.type ?? null })
  })
  app.get('/healthz', (req, res) => res.json({ ok: true }))
  app.use(problemDetails())

  const port = Number(process.env.PORT ?? 3000)
  const server = app.listen(port, '127.0.0.1', () => {
    console.log(`listening on http://127.0.0.1:${server.address().port}`)
  })
  const stop = () => server.close(() => gate.close().then(() => process.exit(0)))
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
