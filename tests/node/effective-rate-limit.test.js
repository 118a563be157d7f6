'use strict'
// Key records carry the limit that applies to them: the key's own, else its
// kind's default in the gate's policy (decided by the core, read as-is here).

const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')

const { Gate } = require('gatepass')
const { tempDir } = require('./helpers.js')

const POLICY = `
default_kind = "pat"

[kinds.pat]
prefix = "bp_pat"
rate_limit = "1000/hour"

[kinds.bot]
prefix = "bp_bot"
`

describe('effectiveRateLimit', () => {
  it('is the key\'s own limit, else its kind\'s default, on every record', async () => {
    const url = `sqlite:///${path.join(tempDir(), 'keys.db')}`
    const gate = await Gate.open(url, { policy: POLICY })
    try {
      const personal = await gate.issue({ name: 'p' })
      const own = await gate.issue({ name: 'o', rateLimit: '5/minute' })
      const bot = await gate.issue({ name: 'b', kind: 'bot' })
      assert.equal(personal.key.rateLimit, null)
      assert.equal(personal.key.effectiveRateLimit, '1000/hour')
      assert.equal(own.key.effectiveRateLimit, '5/minute')
      assert.equal(bot.key.effectiveRateLimit, null)

      assert.equal((await gate.get(personal.key.id)).effectiveRateLimit, '1000/hour')
      const listed = Object.fromEntries((await gate.list({})).keys.map((k) => [k.id, k.effectiveRateLimit]))
      assert.deepEqual(listed, {
        [personal.key.id]: '1000/hour',
        [own.key.id]: '5/minute',
        [bot.key.id]: null
      })
      const cleared = await gate.update(own.key.id, { rateLimit: null })
      assert.equal(cleared.rateLimit, null)
      assert.equal(cleared.effectiveRateLimit, '1000/hour')
      // The remaining field still sits where it did.
      assert.equal(cleared.remaining, null)

      const v = await gate.verify(`Bearer ${personal.token}`)
      assert.ok(v.ok)
      assert.equal(v.key.effectiveRateLimit, '1000/hour')
    } finally {
      await gate.close()
    }

    // The store keeps only the key's own limit: another policy, another answer.
    const plain = await Gate.open(url, {
      policy: 'default_kind = "pat"\n[kinds.pat]\nprefix = "bp_pat"\n[kinds.bot]\nprefix = "bp_bot"'
    })
    try {
      const keys = (await plain.list({})).keys
      // No key has a limit of its own left (`own`'s was cleared above).
      assert.deepEqual(keys.map((k) => k.effectiveRateLimit), [null, null, null])
    } finally {
      await plain.close()
    }
  })
})
