'use strict'
// Shared test helpers: a real Express app on 127.0.0.1 (random port), and
// the shared vectors in tests/vectors/.

const fs = require('node:fs')
const path = require('node:path')
const os = require('node:os')

const ROOT = path.resolve(__dirname, '..', '..')

/** Express 5 (`express`) and Express 4 (`express4`, an npm alias). */
const EXPRESSES = [
  ['express 5', require('express')],
  ['express 4', require('express4')]
]

async function listen (app) {
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  const base = `http://127.0.0.1:${server.address().port}`
  return {
    base,
    /** fetch relative to the app; resolves to { status, headers, text, json }. */
    async request (pathname, init = {}) {
      const res = await fetch(base + pathname, init)
      const text = await res.text()
      let json
      try {
        json = JSON.parse(text)
      } catch {
        json = undefined
      }
      return { status: res.status, headers: res.headers, text, json }
    },
    close () {
      server.closeAllConnections?.()
      return new Promise((resolve) => server.close(resolve))
    }
  }
}

function loadVectors (name) {
  const file = path.join(ROOT, 'tests', 'vectors', `${name}.json`)
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : null
}

function tempDir () {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'gatepass-node-'))
}

module.exports = { ROOT, EXPRESSES, listen, loadVectors, tempDir }
