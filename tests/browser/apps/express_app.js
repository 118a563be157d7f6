'use strict'
// A host app for the browser tests, in Express:
//
//   node express_app.js STORE_URL
//
// Mounts the API Tokens page at /tokens/ with manageRouter, guards
// GET /protected with gatepass/express's authenticate, and has the simplest
// login there is: GET /login?user=NAME sets a cookie that the principal
// callable reads (owner NAME, actor user:NAME). Prints its base URL once it
// listens.

const path = require('node:path')
const root = path.resolve(__dirname, '..', '..', '..')
const express = require('express')
const { Gate, manageRouter } = require(root)
const { authenticate } = require(path.join(root, 'bindings-node', 'express.js'))

const COOKIE = 'demo_user'

function loggedIn (req) {
  for (const part of (req.headers.cookie || '').split(';')) {
    const [name, ...value] = part.trim().split('=')
    if (name === COOKIE) return decodeURIComponent(value.join('='))
  }
  return null
}

async function main () {
  const gate = await Gate.open(process.argv[2])
  const app = express()
  app.get('/login', (req, res) => {
    res.cookie(COOKIE, String(req.query.user), { httpOnly: true, sameSite: 'lax' })
    res.redirect('/tokens/')
  })
  app.get('/protected', authenticate(gate), (req, res) => {
    res.json({ key: req.gatepass.key.id })
  })
  app.use('/tokens', manageRouter({
    gate,
    principal: (req) => {
      const user = loggedIn(req)
      return user ? { owner: user, actor: `user:${user}` } : null
    }
  }))
  const server = app.listen(0, '127.0.0.1', () => {
    console.log(`http://127.0.0.1:${server.address().port}`)
  })
}

main().catch((e) => { console.error(e); process.exit(1) })
