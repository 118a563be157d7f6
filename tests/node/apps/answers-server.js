'use strict'
// The Express twin of the Python apps in tests/python/test_http_answers.py:
// the same routes, so the same request can be sent to every framework and
// the answers compared. Usage: node answers-server.js <store URL>
// <standard secret> <shared token>; prints the port once listening.

const express = require('express')
const { Gate, WebhookVerifier } = require('../../../bindings-node/index.js')
const { authenticate, verifyWebhook, problemDetails } = require('../../../bindings-node/express.js')

async function main () {
  const [storeUrl, secret, token] = process.argv.slice(2)
  const gate = await Gate.open(storeUrl)
  const app = express()
  const raw = express.raw({ type: '*/*' })
  const ok = (req, res) => res.json({ ok: true })
  app.post('/hooks/standard', raw, verifyWebhook(new WebhookVerifier('standard', { secrets: [secret] })), ok)
  app.post('/hooks/replay', raw, verifyWebhook(new WebhookVerifier('standard', { secrets: [secret], replayGuard: true })), ok)
  app.post('/hooks/token', raw, verifyWebhook(new WebhookVerifier('token', { secrets: [token] })), ok)
  app.get('/limited', authenticate(gate), ok)
  app.use(problemDetails())
  const server = app.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${server.address().port}\n`)
  })
  process.on('SIGTERM', () => {
    server.close()
    gate.close().finally(() => process.exit(0))
  })
}

main().catch((e) => {
  process.stderr.write(`${e.stack}\n`)
  process.exit(1)
})
