'use strict'
// Several Node processes on one real PostgreSQL store and one real Redis
// (started by scripts/services.sh): revocation reaches every process,
// a rate limit holds across all of them, usage adds up after a clean
// shutdown, and a webhook replayed to another process is refused.
//
// Without GATEPASS_TEST_POSTGRES_URL / GATEPASS_TEST_REDIS_URL these tests
// are SKIPPED with a loud message; under CI=true they fail instead.
//   eval "$(bash scripts/services.sh start)" && node --test tests/node/services.test.js

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const path = require('node:path')
const { fork } = require('node:child_process')

const { Gate, WebhookSigner, generateSecret } = require('gatepass')

const POSTGRES = process.env.GATEPASS_TEST_POSTGRES_URL || null
const REDIS = process.env.GATEPASS_TEST_REDIS_URL || null
const CI = process.env.CI === 'true'
const missing = [!POSTGRES && 'GATEPASS_TEST_POSTGRES_URL', !REDIS && 'GATEPASS_TEST_REDIS_URL'].filter(Boolean)
const skip = missing.length > 0 && !CI && `${missing.join(' and ')} not set`
if (skip) {
  console.error(`\n*** SKIPPED: multi-process Postgres/Redis tests: ${skip}. ` +
    'Start the servers with `eval "$(bash scripts/services.sh start)"` to run them. ***\n')
}

const PROCESSES = 4
const wallMs = () => performance.timeOrigin + performance.now()

/** A forked worker (services-worker.js) answering commands in order. */
class Worker {
  constructor () {
    this.child = fork(path.join(__dirname, 'services-worker.js'), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.inbox = []
    this.waiting = []
    this.child.on('message', (m) => this.#deliver(m))
    this.child.on('exit', (code) => this.#deliver({ ok: false, error: `worker exited with ${code}` }))
  }

  #deliver (message) {
    const waiter = this.waiting.shift()
    if (waiter) waiter(message)
    else this.inbox.push(message)
  }

  /** The next message from the worker; rejects on a reported error. */
  async next () {
    const message = this.inbox.length > 0 ? this.inbox.shift() : await new Promise((resolve) => this.waiting.push(resolve))
    if (!message.ok) throw new Error(message.error)
    return message
  }

  async call (cmd, args = {}) {
    this.child.send({ cmd, ...args })
    return this.next()
  }

  /** Closes the worker's gate (flushing usage) and waits for it to exit. */
  async stop () {
    if (this.child.exitCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    await this.call('close').catch(() => {})
    this.child.disconnect()
    await exited
  }

  static async start (n) {
    const workers = Array.from({ length: n }, () => new Worker())
    await Promise.all(workers.map((w) => w.next())) // { started: true }
    return workers
  }
}

/**
 * A fresh, empty schema on the test server, as a store URL whose
 * connections use it, so tests never see each other's keys.
 */
async function freshSchema () {
  const { Client } = require('pg')
  const schema = `gp_test_${crypto.randomBytes(6).toString('hex')}`
  const client = new Client({ connectionString: POSTGRES })
  await client.connect()
  try {
    await client.query(`CREATE SCHEMA ${schema}`)
  } finally {
    await client.end()
  }
  const sep = POSTGRES.includes('?') ? '&' : '?'
  return { schema, url: `${POSTGRES}${sep}options=-csearch_path%3D${schema}` }
}

async function dropSchema (schema) {
  const { Client } = require('pg')
  const client = new Client({ connectionString: POSTGRES })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  } finally {
    await client.end()
  }
}

function percentile (sorted, p) {
  return sorted[Math.round((sorted.length - 1) * p)]
}

describe(`${PROCESSES} Node processes on one Postgres and one Redis`, { skip }, () => {
  let gate, workers, schema

  before(async () => {
    assert.ok(POSTGRES && REDIS, `CI=true needs ${missing.join(' and ')}: scripts/services.sh must start the servers`)
    const fresh = await freshSchema()
    schema = fresh.schema
    gate = await Gate.open(fresh.url, { rateLimiter: REDIS })
    workers = await Worker.start(PROCESSES)
    await Promise.all(workers.map((w) => w.call('open', { store: fresh.url, rateLimiter: REDIS })))
  })

  after(async () => {
    await Promise.all((workers ?? []).map((w) => w.stop()))
    await gate?.close()
    if (schema) await dropSchema(schema)
  })

  it('a revoke in one process is seen by every other process (delay printed, not asserted)', async () => {
    const delays = []
    for (let round = 0; round < 15; round++) {
      const { token, key } = await gate.issue({ name: `round ${round}` })
      // Each worker verifies once (valid), then loops until it is rejected.
      for (const w of workers) w.child.send({ cmd: 'watch', token })
      await Promise.all(workers.map((w) => w.next())) // { watching: true }
      await new Promise((resolve) => setTimeout(resolve, 5))
      const t0 = wallMs()
      await gate.revoke(key.id)
      for (const seen of await Promise.all(workers.map((w) => w.next()))) {
        assert.equal(seen.code, 'revoked', 'every process rejects the revoked token')
        const delay = seen.seenAt - t0
        assert.ok(delay < 5000, `rejected within 5 s (took ${delay.toFixed(1)} ms)`)
        delays.push(delay)
      }
    }
    delays.sort((a, b) => a - b)
    const ms = (x) => `${x.toFixed(1)} ms`
    console.log(`revocation seen by the other Node processes after (n = ${delays.length}, ${PROCESSES} processes): ` +
      `p50 ${ms(percentile(delays, 0.5))}, p90 ${ms(percentile(delays, 0.9))}, ` +
      `p99 ${ms(percentile(delays, 0.99))}, max ${ms(delays[delays.length - 1])}`)
  })

  it('processes hammering one key with a 50/hour limit admit exactly 50 in total', async () => {
    const { token } = await gate.issue({ name: 'hammered', rateLimit: '50/hour' })
    const replies = await Promise.all(workers.map((w) => w.call('hammer', { token, count: 40 })))
    const total = {}
    for (const { codes } of replies) {
      for (const [code, n] of Object.entries(codes)) total[code] = (total[code] ?? 0) + n
    }
    assert.deepEqual(total, { valid: 50, rate_limited: PROCESSES * 40 - 50 })
  })

  it('usage counts add up exactly after every process closes cleanly', async () => {
    const { token, key } = await gate.issue({ name: 'counted' })
    const per = 250
    await Promise.all(workers.map((w) => w.call('hammer', { token, count: per })))
    await Promise.all(workers.map((w) => w.stop()))
    const counted = await gate.get(key.id)
    assert.equal(counted.usageCount, PROCESSES * per)
    assert.ok(counted.lastUsedAt instanceof Date)
  })
})

describe('webhook replay guard on Redis across processes', { skip }, () => {
  let workers

  before(async () => {
    assert.ok(REDIS, 'CI=true needs GATEPASS_TEST_REDIS_URL: scripts/services.sh must start the servers')
    workers = await Worker.start(2)
  })

  after(async () => {
    await Promise.all((workers ?? []).map((w) => w.stop()))
  })

  it('a delivery replayed to a second process is refused', async () => {
    const secret = generateSecret('standard')
    await Promise.all(workers.map((w) => w.call('webhook', { scheme: 'standard', secret, replayGuard: REDIS })))
    const body = JSON.stringify({ type: 'message.created', text: 'hello' })
    const id = `msg_${crypto.randomBytes(8).toString('hex')}`
    const headers = new WebhookSigner('standard', secret).sign(body, { id })
    const first = await workers[0].call('deliver', { body, headers })
    assert.deepEqual({ accepted: first.accepted, id: first.id }, { accepted: true, id })
    const replay = await workers[1].call('deliver', { body, headers })
    assert.deepEqual({ accepted: replay.accepted, code: replay.code }, { accepted: false, code: 'replayed' })
    const again = await workers[0].call('deliver', { body, headers })
    assert.equal(again.code, 'replayed', 'and to the first process too')
    // A new message is still accepted by either.
    const fresh = new WebhookSigner('standard', secret).sign(body)
    assert.equal((await workers[1].call('deliver', { body, headers: fresh })).accepted, true)
  })

  it('memory:// keeps the guard per process (documented: use redis:// for several)', async () => {
    const secret = generateSecret('standard')
    await Promise.all(workers.map((w) => w.call('webhook', { scheme: 'standard', secret, replayGuard: 'memory://' })))
    const body = '{"a":1}'
    const headers = new WebhookSigner('standard', secret).sign(body)
    assert.equal((await workers[0].call('deliver', { body, headers })).accepted, true)
    assert.equal((await workers[0].call('deliver', { body, headers })).code, 'replayed')
    assert.equal((await workers[1].call('deliver', { body, headers })).accepted, true)
  })
})
