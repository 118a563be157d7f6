'use strict'
// Where a gate's policy came from, and the report of a policy that differs
// from the one the store recorded (a process warning, never an error).
// Discovery from $GATEPASS_POLICY and ./gatepass.toml, across Python, Node
// and the CLI in fresh processes, is tests/python/test_policy_everywhere.py.

const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')

const { Gate } = require('gatepass')
const { tempDir } = require('./helpers.js')

const BOTS = { default_kind: 'pat', kinds: { pat: { prefix: 'bp_pat' }, bot: { prefix: 'bp_bot' } } }
const AGENTS = { default_kind: 'pat', kinds: { pat: { prefix: 'bp_pat' }, agent: { prefix: 'bp_agent' } } }

describe('policySource and policyMismatch', () => {
  it('records a given policy, uses the recorded one, reports a different one', async () => {
    const url = `sqlite:///${path.join(tempDir(), 'keys.db')}`
    const warnings = []
    const onWarning = (w) => { if (w.code === 'GATEPASS_POLICY_MISMATCH') warnings.push(w.message) }
    process.on('warning', onWarning)
    try {
      const app = await Gate.open(url, { policy: BOTS })
      assert.equal(app.policySource, 'passed explicitly (in code, or --policy)')
      assert.equal(app.policyMismatch, null)
      await app.close()

      const tool = await Gate.open(url)
      assert.equal(tool.policySource, 'the policy recorded in the store')
      assert.equal((await tool.issue({ name: 'b', kind: 'bot' })).key.kind, 'bot')
      await tool.close()
      assert.equal(tool.policySource, 'the policy recorded in the store') // still readable after close

      const next = await Gate.open(url, { policy: AGENTS })
      assert.match(next.policyMismatch, /differs from the one in the store/)
      assert.match(next.policyMismatch, /agent \(bp_agent\), pat \(bp_pat\) here, bot \(bp_bot\), pat \(bp_pat\) recorded/)
      assert.equal((await next.issue({ name: 'a', kind: 'agent' })).key.kind, 'agent')
      await next.close()
      await new Promise((resolve) => setImmediate(resolve)) // warnings are emitted on the next tick
      assert.deepEqual(warnings, [next.policyMismatch])
    } finally {
      process.off('warning', onWarning)
    }
  })

  it('names the policy in force when a kind is unknown', async () => {
    const gate = await Gate.open('memory://')
    assert.match(gate.policySource, /^no policy/)
    await assert.rejects(gate.issue({ name: 'x', kind: 'bot' }), (e) => {
      assert.equal(e.code, 'unknown_kind')
      assert.match(e.message, /policy in force: no policy .*its kinds: default \(gp\)/)
      return true
    })
    await gate.close()
  })
})
