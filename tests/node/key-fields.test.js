'use strict'
// The addon hands key records over as JSON objects whose members carry
// their JavaScript names (bindings-node/src/key.rs); index.js turns the
// times into Dates. These tests fail when a name written on one side is
// not read on the other: a key whose every field holds a value of its own
// must come out whole, through get, list and a verification (shared or not).

const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { Gate } = require('gatepass')
const native = require(path.join(__dirname, '..', '..', 'bindings-node', 'native.js'))

const TIMES = ['createdAt', 'updatedAt', 'expiresAt', 'revokedAt', 'lastUsedAt']

/** A key as plain JSON values, Dates as Unix milliseconds. */
function plain (key) {
  return Object.fromEntries(Object.entries(key).map(([n, v]) => [n, v instanceof Date ? v.getTime() : v]))
}

describe('key records across the addon boundary', () => {
  it('every member the addon writes is read, under the same name, and nothing else', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatepass-fields-'))
    const url = `sqlite:///${path.join(dir, 'keys.db')}`
    const policy = { scopes: ['bots:read', 'channels:write'], kinds: { bot: { prefix: 'bt' } } }
    const gate = await Gate.open(url, { policy })
    const issued = await gate.issue({
      name: 'every field',
      kind: 'bot',
      scopes: ['bots:read', 'channels:write'],
      subject: 'agent_42',
      resource: 'channel:ch_1',
      metadata: { team: 'support' },
      expiresIn: '30d',
      rateLimit: '100/minute',
      remaining: 7
    })
    const header = `Bearer ${issued.token}`
    // Used (remaining, lastUsedAt, usageCount), then deactivated: revokedAt
    // stays null, so revoke a second key for that member.
    assert.equal((await gate.verify(header, { resource: 'channel:ch_1' })).code, 'valid')
    await gate.flush()
    const other = await gate.issue({ name: 'revoked', kind: 'bot' })
    await gate.revoke(other.key.id)

    const ng = await native.openGate(url, policy, null)
    for (const id of [issued.key.id, other.key.id]) {
      const raw = JSON.parse(await ng.get(id))
      const key = await gate.get(id)
      // The same names, in the same order.
      assert.deepEqual(Object.keys(key), Object.keys(raw))
      assert.deepEqual(plain(key), raw)
      for (const t of TIMES) assert.ok(key[t] === null || key[t] instanceof Date, t)
    }
    await ng.close()

    // Every member holds a value of its own somewhere (no name read as undefined).
    const used = await gate.get(issued.key.id)
    const revoked = await gate.get(other.key.id)
    for (const [name, value] of Object.entries(used)) {
      assert.ok(value !== undefined && (value !== null || revoked[name] !== null), name)
    }
    assert.equal(used.remaining, 6)
    assert.equal(used.effectiveRateLimit, '100/minute')

    // Through list and through verifications, the same record.
    const listed = (await gate.list({ kind: 'bot' })).keys.find((k) => k.id === used.id)
    assert.deepEqual(plain(listed), plain(used))
    const free = await gate.issue({ name: 'free', kind: 'bot', scopes: ['bots:read'] })
    const first = await gate.verify(`Bearer ${free.token}`) // from the store
    const again = await gate.verify(`Bearer ${free.token}`) // shared, from memory
    await gate.flush()
    const stored = plain(await gate.get(free.key.id))
    for (const v of [first, again]) {
      const seen = plain(v.key)
      assert.deepEqual(Object.keys(seen), Object.keys(stored))
      for (const name of Object.keys(stored)) {
        // Usage moves on after the cache was filled; everything else is the record.
        if (name !== 'usageCount' && name !== 'lastUsedAt') assert.deepEqual(seen[name], stored[name], name)
      }
    }
    await gate.close()
    fs.rmSync(dir, { recursive: true, force: true })
  })
})
