'use strict'
// Usage history through the Node package: buckets by hour and day on a real
// SQLite file, refusals by code, Dates, bad arguments refused.

const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')

const { Gate, GatepassError } = require('gatepass')
const { tempDir } = require('./helpers.js')

const HOUR = 3600 * 1000
const DAY = 24 * HOUR

describe('gate.usage', () => {
  it('returns valid requests and refusals by hour and by day', async () => {
    const gate = await Gate.open(`sqlite:///${path.join(tempDir(), 'keys.db')}`)
    const { token, key } = await gate.issue({ name: 'usage', scopes: ['bots:read'] })
    for (let i = 0; i < 3; i++) assert.equal((await gate.verify(token)).code, 'valid')
    assert.equal((await gate.verify(token, { scopes: ['bots:write'] })).code, 'insufficient_scope')
    await gate.revoke(key.id)
    assert.equal((await gate.verify(token)).code, 'revoked')

    const now = Date.now()
    const hours = await gate.usage(key.id, { since: new Date(now - 3 * HOUR), step: 'hour' })
    assert.ok(hours.length === 3 || hours.length === 4, String(hours.length))
    for (const b of hours) {
      assert.ok(b.start instanceof Date)
      assert.equal(b.start.getTime() % HOUR, 0)
    }
    assert.deepEqual(hours.map((b) => b.start.getTime()), hours.map((b) => b.start.getTime()).sort((a, b) => a - b))
    assert.equal(hours.reduce((n, b) => n + b.valid, 0), 3)
    const refused = {}
    for (const b of hours) {
      for (const [code, n] of Object.entries(b.refused)) refused[code] = (refused[code] ?? 0) + n
    }
    assert.deepEqual(refused, { insufficient_scope: 1, revoked: 1 })
    assert.equal((await gate.get(key.id)).usageCount, 3)

    // The documented default, the management API's and the CLI's too: the
    // last 30 days by day, today's bucket included ...
    const days = await gate.usage(key.id)
    const today = now - (now % DAY)
    assert.equal(days.length, 30)
    assert.equal(days.at(-1).valid, 3)
    assert.equal(days.at(-1).start.getTime(), today)
    assert.equal(days[0].start.getTime(), today - 29 * DAY)
    // ... and the last 24 hours by hour, the current hour included.
    const byHour = await gate.usage(key.id, { step: 'hour' })
    const thisHour = now - (now % HOUR)
    assert.equal(byHour.length, 24)
    assert.equal(byHour[0].start.getTime(), thisHour - 23 * HOUR)
    assert.equal(byHour.at(-1).start.getTime(), thisHour)
    assert.equal(byHour.reduce((n, b) => n + b.valid, 0), 3)
    await gate.close()
  })

  it('refuses bad arguments with clear errors and never echoes a token', async () => {
    const gate = await Gate.open('memory://')
    const { token, key } = await gate.issue({ name: 'usage' })
    const code = async (promise) => {
      try {
        await promise
      } catch (e) {
        // Option shapes are checked in JavaScript (a TypeError, as for every
        // method); values by the core (a GatepassError). Both carry the code.
        assert.ok(e instanceof GatepassError || e instanceof TypeError, String(e))
        assert.ok(!e.message.includes(token))
        return e.code
      }
      assert.fail('expected an error')
    }
    assert.equal(await code(gate.usage(key.id, { step: 'week' })), 'invalid_argument')
    assert.equal(await code(gate.usage(key.id, { since: Date.now() - 100 * DAY, step: 'hour' })), 'invalid_argument')
    assert.equal(await code(gate.usage(key.id, { since: 'yesterday' })), 'invalid_argument')
    assert.equal(await code(gate.usage(key.id, { from: 0 })), 'invalid_argument')
    assert.equal(await code(gate.usage('key_' + '0'.repeat(16))), 'not_found')
    assert.equal(await code(gate.usage(token)), 'invalid_argument')
    await gate.close()
  })
})
