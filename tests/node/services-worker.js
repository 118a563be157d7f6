'use strict'
// One Node process of the multi-process tests (services.test.js): a Gate on
// the shared Postgres store with the shared Redis rate limiter, and a
// WebhookVerifier with the Redis replay guard, driven over the fork() IPC
// channel. Every reply is `{ ok: true, ... }` or `{ ok: false, error }`.

const { Gate, WebhookVerifier } = require('gatepass')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
const wallMs = () => performance.timeOrigin + performance.now()

let gate = null
let verifier = null

const commands = {
  async open ({ store, rateLimiter }) {
    gate = await Gate.open(store, { rateLimiter })
    return {}
  },

  /**
   * Verifies once (valid), answers, then keeps verifying until rejected,
   * about once a millisecond: a busy server, not a busy loop that would
   * starve the store's notification thread on a small shared machine.
   */
  async watch ({ token }) {
    const header = `Bearer ${token}`
    const first = await gate.verify(header)
    if (!first.ok) throw new Error(`the token was not valid before the revoke: ${first.code}`)
    process.send({ ok: true, watching: true })
    const deadline = Date.now() + 10000
    for (;;) {
      const v = await gate.verify(header)
      if (!v.ok) return { code: v.code, seenAt: wallMs() }
      if (Date.now() > deadline) return { code: 'still_valid', seenAt: wallMs() }
      await sleep(1)
    }
  },

  /** `count` verifications as fast as this process can, tallied by outcome code. */
  async hammer ({ token, count }) {
    const codes = {}
    for (let i = 0; i < count; i++) {
      const { code } = await gate.verify(`Bearer ${token}`)
      codes[code] = (codes[code] ?? 0) + 1
    }
    return { codes }
  },

  async close () {
    if (gate !== null) await gate.close()
    gate = null
    return {}
  },

  async webhook ({ scheme, secret, replayGuard }) {
    verifier = new WebhookVerifier(scheme, { secret, replayGuard })
    return {}
  },

  async deliver ({ body, headers }) {
    try {
      const { id } = verifier.verify(body, headers)
      return { accepted: true, id }
    } catch (e) {
      return { accepted: false, code: e.code }
    }
  }
}

process.on('message', async (message) => {
  try {
    const reply = await commands[message.cmd](message)
    process.send({ ok: true, ...reply })
  } catch (e) {
    process.send({ ok: false, error: `${e.code ?? e.name}: ${e.message}` })
  }
})
process.on('disconnect', () => process.exit(0))
process.send({ ok: true, started: true })
