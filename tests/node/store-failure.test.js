'use strict'
// A store that fails during a request (a restarting Postgres, a corrupted
// SQLite file, a Redis replay guard that drops the connection) is answered
// with 503, `Retry-After` and an RFC 9457 body, never a 500: through
// `problemDetails()` and through Express's own default handler.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Worker } = require('node:worker_threads')

const { Gate, GatepassError, StoreError, WebhookVerifier, WebhookSigner, generateSecret } = require('gatepass')
const { authenticate, verifyWebhook, problemDetails } = require('gatepass/express')
const { EXPRESSES, listen, tempDir } = require('./helpers.js')

/** Overwrites the store's files in place (not truncated: SQLite maps the -shm file). */
function breakSqliteStore (db) {
  const dir = path.dirname(db)
  for (const name of fs.readdirSync(dir)) {
    if (!name.startsWith(path.basename(db))) continue
    const fd = fs.openSync(path.join(dir, name), 'r+')
    fs.writeSync(fd, Buffer.from('not a database '.repeat(4096)), 0)
    fs.closeSync(fd)
  }
}

function checkStoreFailure (res, code = 'store_unavailable') {
  assert.equal(res.status, 503, res.text)
  assert.equal(res.headers.get('content-type'), 'application/problem+json')
  assert.equal(res.headers.get('retry-after'), '1')
  assert.deepEqual(Object.keys(res.json).sort(), ['code', 'detail', 'status', 'title', 'type'])
  assert.equal(res.json.type, 'about:blank')
  assert.equal(res.json.title, 'Service Unavailable')
  assert.equal(res.json.status, 503)
  assert.equal(res.json.code, code)
  assert.ok(res.json.detail.length > 0)
  assert.doesNotMatch(res.json.detail, /gp_|whsec_/)
}

// A Redis server (in a worker thread: the verifier talks to it synchronously)
// that answers the handshake and drops the connection on the first real command.
const FAKE_REDIS = `
const net = require('node:net')
const { parentPort } = require('node:worker_threads')
const server = net.createServer((socket) => {
  socket.on('data', (data) => {
    const lines = data.toString('latin1').split('\\r\\n')
    let reply = ''
    for (let i = 0; i < lines.length && lines[i].startsWith('*');) {
      const n = Number(lines[i].slice(1))
      const name = lines[i + 2].toUpperCase()
      if (name === 'PING') reply += '+PONG\\r\\n'
      else if (['CLIENT', 'HELLO', 'SELECT', 'AUTH'].includes(name)) reply += '+OK\\r\\n'
      else return socket.destroy()
      i += 1 + 2 * n
    }
    socket.write(reply)
  })
  socket.on('error', () => {})
})
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port))
parentPort.on('message', () => server.close(() => process.exit(0)))
`

describe('store failures over HTTP', () => {
  let worker, redisUrl

  before(async () => {
    worker = new Worker(FAKE_REDIS, { eval: true })
    redisUrl = `redis://127.0.0.1:${await new Promise((resolve) => worker.once('message', resolve))}/`
  })

  after(async () => {
    await worker.terminate()
  })

  it('errors.js: a store failure is a StoreError with 503, Retry-After and a problem', async () => {
    const dir = tempDir()
    const db = path.join(dir, 'keys.db')
    const gate = await Gate.open(`sqlite:///${db}`)
    const { token } = await gate.issue({ name: 'x' })
    breakSqliteStore(db)
    const err = await gate.verify(`Bearer ${token}`).then(() => null, (e) => e)
    assert.ok(err instanceof StoreError && err instanceof GatepassError, String(err))
    assert.equal(err.code, 'store_unavailable')
    assert.equal(err.status, 503)
    assert.equal(err.statusCode, 503)
    assert.deepEqual(err.headers, { 'Retry-After': '1' })
    // The body is generic; the backend's text stays in the message, for the log.
    assert.deepEqual(err.toJSON(), { type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'the key store is unavailable; retry later', code: 'store_unavailable' })
    assert.match(err.message, /not a database/)
    await gate.close().catch(() => {})
    fs.rmSync(dir, { recursive: true, force: true })
  })

  for (const [label, express] of EXPRESSES) {
    describe(label, () => {
      let gate, server, plainServer, token, dir
      const secret = generateSecret('standard')

      before(async () => {
        dir = tempDir()
        const db = path.join(dir, 'keys.db')
        gate = await Gate.open(`sqlite:///${db}`)
        token = (await gate.issue({ name: 'good', scopes: ['bots:read'] })).token
        breakSqliteStore(db)
        const verifier = new WebhookVerifier('standard', { secret, replayGuard: redisUrl })
        const app = express()
        app.get('/v1/bots', authenticate(gate, { scopes: ['bots:read'] }), (req, res) => res.json({ ok: true }))
        app.post('/hooks', express.raw({ type: '*/*' }), verifyWebhook(verifier), (req, res) => res.json({ ok: true }))
        app.use(problemDetails())
        server = await listen(app)
        // No problemDetails(): Express's own final handler answers.
        const plain = express()
        plain.set('env', 'test') // the final handler logs errors to stderr otherwise
        plain.get('/v1/bots', authenticate(gate), (req, res) => res.json({ ok: true }))
        plainServer = await listen(plain)
      })

      after(async () => {
        await server.close()
        await plainServer.close()
        await gate.close().catch(() => {})
        fs.rmSync(dir, { recursive: true, force: true })
      })

      it('authenticate(): 503 problem with Retry-After', async () => {
        checkStoreFailure(await server.request('/v1/bots', { headers: { authorization: `Bearer ${token}` } }))
      })

      it('verifyWebhook(): a failed replay guard is a 503 problem with Retry-After', async () => {
        const body = '{"event":"x"}'
        const headers = new WebhookSigner('standard', secret).sign(body, { id: 'msg_n' })
        const res = await server.request('/hooks', { method: 'POST', body, headers: { ...headers, 'content-type': 'application/json' } })
        checkStoreFailure(res, 'replay_guard_failed')
      })

      it('without problemDetails(), Express\'s default handler still answers 503 with Retry-After', async () => {
        const res = await plainServer.request('/v1/bots', { headers: { authorization: `Bearer ${token}` } })
        assert.equal(res.status, 503)
        assert.equal(res.headers.get('retry-after'), '1')
      })
    })
  }
})
