'use strict'
// The audit trail from Node: `{ actor, ip, userAgent }` on every lifecycle
// call and `gate.events()` with `Date`s, on a real SQLite file and memory.

const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { Gate, GatepassError } = require('gatepass')

const WHO = { actor: 'user:42', ip: '203.0.113.9', userAgent: 'Mozilla/5.0 (audit test)' }

function sqliteUrl () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatepass-audit-'))
  return `sqlite:///${path.join(dir, 'audit.db')}`
}

for (const [label, url] of [['sqlite', sqliteUrl], ['memory', () => 'memory://']]) {
  describe(`audit trail on ${label}`, () => {
    it('records one event per change, with actor, source and changed fields, never a secret', async () => {
      const gate = await Gate.open(url())
      const before = Date.now() - 1000
      const issued = await gate.issue({ name: 'Production Server', subject: 'ws_1', metadata: { billing: 'acct-secret-value' }, ...WHO })
      const id = issued.key.id
      await gate.update(id, { name: 'Renamed', ...WHO })
      await gate.update(id, { name: 'Renamed', ...WHO }) // changes nothing: no event
      await gate.deactivate(id, WHO)
      await gate.activate(id, WHO)
      const rotated = await gate.rotate(id, { grace: '1h', ...WHO })
      await gate.revoke(id, WHO)
      await gate.revoke(id, WHO) // already revoked: no event
      await gate.delete(id, WHO)

      const page = await gate.events({ key: id })
      assert.equal(page.next, null)
      assert.deepEqual(page.events.map((e) => e.action), [
        'deleted', 'revoked', 'regenerated', 'activated', 'deactivated', 'updated', 'issued'
      ])
      for (const e of page.events) {
        assert.equal(e.keyId, id)
        assert.equal(e.owner, 'ws_1')
        assert.equal(e.actor, 'user:42')
        assert.equal(e.ip, '203.0.113.9')
        assert.equal(e.userAgent, 'Mozilla/5.0 (audit test)')
        assert.match(e.id, /^evt_[0-9A-Za-z]{16}$/)
        assert.ok(e.at instanceof Date)
        assert.ok(e.at.getTime() >= before)
      }
      assert.deepEqual(page.events[5].changes, { name: { from: 'Production Server', to: 'Renamed' } })
      assert.deepEqual(page.events[2].changes, { start: { from: issued.key.start, to: rotated.key.start } })
      assert.deepEqual(page.events[6].changes.metadata, { keys: ['billing'] })
      const text = JSON.stringify(page)
      for (const secret of [issued.token, rotated.token, 'acct-secret-value']) {
        assert.ok(!text.includes(secret))
      }
      await gate.close()
    })
  })
}

describe('audit trail arguments', () => {
  it('names this process without an actor, and pages and filters events', async () => {
    const gate = await Gate.open('memory://')
    const a = await gate.issue({ name: 'a', subject: 'ws_a' })
    const b = await gate.issue({ name: 'b', subject: 'ws_b' })
    await gate.revoke(b.key.id, { ip: '198.51.100.7' })
    for (let i = 0; i < 2; i++) {
      await gate.deactivate(a.key.id)
      await gate.activate(a.key.id)
    }
    const owned = await gate.events({ owner: 'ws_b' })
    assert.deepEqual(owned.events.map((e) => e.action), ['revoked', 'issued'])
    assert.ok(owned.events[0].actor.startsWith(`process:${process.pid}`))
    assert.equal(owned.events[0].ip, '198.51.100.7')
    assert.equal(owned.events[1].ip, null)
    const first = await gate.events({ limit: 4 })
    assert.equal(first.events.length, 4)
    const rest = await gate.events({ after: first.next, limit: 4 })
    assert.equal(rest.events.length, 3)
    assert.equal(rest.next, null)
    const all = await gate.events()
    assert.deepEqual(all.events.map((e) => e.id), [...first.events, ...rest.events].map((e) => e.id))
    const future = await gate.events({ since: new Date(Date.now() + 3600e3) })
    assert.equal(future.events.length, 0)
    await gate.close()
  })

  it('refuses bad actors, cursors and options clearly, changing nothing', async () => {
    const gate = await Gate.open('memory://')
    const issued = await gate.issue({ name: 'k' })
    await assert.rejects(gate.revoke(issued.key.id, { actor: 'line\nbreak' }), (e) => e instanceof GatepassError && e.code === 'invalid_argument')
    await assert.rejects(gate.revoke(issued.key.id, { ip: 'not-an-ip' }), (e) => e.code === 'invalid_argument')
    await assert.rejects(gate.revoke(issued.key.id, { actor: 42 }), (e) => e.code === 'invalid_argument')
    await assert.rejects(gate.revoke(issued.key.id, { grace: '1h' }), (e) => e.code === 'invalid_argument')
    assert.equal((await gate.get(issued.key.id)).status, 'active')
    await assert.rejects(gate.events({ after: 'nonsense' }), (e) => e.code === 'invalid_argument')
    await assert.rejects(gate.events({ key: issued.token }), (e) => e.code === 'invalid_argument' && !e.message.includes(issued.token))
    await assert.rejects(gate.events({ since: 'yesterday' }), (e) => e.code === 'invalid_argument')
    await assert.rejects(gate.events({ nonsense: 1 }), (e) => e.code === 'invalid_argument')
    await gate.close()
  })
})
