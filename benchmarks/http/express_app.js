'use strict'
// Express app for benchmarks/http/run.py: the same answer behind no
// authentication, a header-only middleware, and gatepass (`authenticate` +
// `requireScopes`, one scope). `node express_app.js PORT`; the store is
// $BENCH_STORE (a sqlite:// URL). GATEPASS_PACKAGE may name another build's
// bindings-node directory (index.js, express.js and the addon), to compare.

const path = require('node:path')
const express = require('express')
const dir = process.env.GATEPASS_PACKAGE
const { Gate } = require(dir ? path.resolve(dir, 'index.js') : 'gatepass')
const { authenticate, requireScopes, problemDetails } = require(dir ? path.resolve(dir, 'express.js') : 'gatepass/express')

/** The header-only check, the Express way: a middleware that reads the token. */
function bearerRequired (req, res, next) {
  const header = req.headers.authorization
  if (typeof header !== 'string' || !header.startsWith('Bearer ') || header.length === 7) {
    res.status(401).set('WWW-Authenticate', 'Bearer').end()
    return
  }
  res.locals.token = header.slice(7)
  next()
}

/** The app, for this server and for inprocess.js. */
function build (gate) {
  const app = express()
  app.get('/none', (req, res) => res.json({ bots: [], key: 'none' }))
  app.get('/header', bearerRequired, (req, res) => res.json({ bots: [], key: 'header' }))
  app.get('/gatepass', authenticate(gate), requireScopes('bots:read'), (req, res) => res.json({ bots: [], key: req.gatepass.key.id }))
  app.use(problemDetails())
  return app
}

async function main () {
  const gate = await Gate.open(process.env.BENCH_STORE)
  const app = build(gate)
  const server = app.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
    console.log(`listening on ${server.address().port}`)
  })
}

module.exports = { build, Gate }

if (require.main === module) {
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
