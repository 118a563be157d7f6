'use strict'
// Input at the core's edge, from Node: a token passed where a key id belongs
// is refused without being repeated, times and numbers are bounded so every
// stored key stays readable, `expiresIn` on update is the core's, and a
// verified webhook inspects as plain JavaScript values.

const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const util = require('node:util')

const { Gate, GatepassError, WebhookSigner, WebhookVerifier, generateSecret } = require('gatepass')
const { tempDir } = require('./helpers.js')

const sqliteUrl = (dir) => `sqlite:///${path.join(dir, 'input.db')}`

const ID_CALLS = {
  get: (g, id) => g.get(id),
  revoke: (g, id) => g.revoke(id),
  rotate: (g, id) => g.rotate(id),
  update: (g, id) => g.update(id, { name: 'x' }),
  activate: (g, id) => g.activate(id),
  deactivate: (g, id) => g.deactivate(id),
  delete: (g, id) => g.delete(id)
}

/** Every way an error reaches a log. */
function shown (e) {
  return [String(e), e.message, e.stack, util.inspect(e), JSON.stringify(e)].join(' ')
}

function secretParts (token) {
  const body = token.slice(token.lastIndexOf('_') + 1)
  return [token, body, body.slice(0, 12), body.slice(-12)]
}

async function refusal (promise) {
  try {
    await promise
  } catch (e) {
    return e
  }
  assert.fail('expected the call to be refused')
}

describe('key-id arguments', () => {
  it('refuse a token without repeating it, in every call that takes an id', async () => {
    const gate = await Gate.open(sqliteUrl(tempDir()))
    const { token, key } = await gate.issue({ name: 'prod' })
    const typo = token.slice(0, -1) + (token.endsWith('x') ? 'y' : 'x')
    for (const [call, run] of Object.entries(ID_CALLS)) {
      for (const given of [token, `Bearer ${token}`, typo]) {
        const e = await refusal(run(gate, given))
        assert.ok(e instanceof GatepassError, call)
        assert.equal(e.code, 'invalid_argument', call)
        assert.match(e.message, /a token was given where a key id belongs/, call)
        const all = shown(e)
        for (const part of [...secretParts(token), ...secretParts(typo)]) {
          assert.ok(!all.includes(part), `${call} repeated the token: ${all}`)
        }
      }
    }
    assert.equal((await gate.get(key.id)).status, 'active')
    await gate.close()
  })

  it('refuse other malformed ids without repeating them; a missing id is not_found', async () => {
    const gate = await Gate.open('memory://')
    const given = ['key', 'short', 'and-wrong'].join('_')
    for (const [call, run] of Object.entries(ID_CALLS)) {
      const e = await refusal(run(gate, given))
      assert.equal(e.code, 'invalid_argument', call)
      assert.match(e.message, /^not a key id/)
      assert.ok(!shown(e).includes(given), call)
      assert.equal((await refusal(run(gate, 'key_0000000000000000'))).code, 'not_found', call)
    }
    await gate.close()
  })
})

describe('bounds on times and numbers', () => {
  it('refuses lifetimes and grace periods past a hundred years', async () => {
    const gate = await Gate.open(sqliteUrl(tempDir()))
    for (const expiresIn of ['3000000d', '36526d', '36525d 1s']) {
      const e = await refusal(gate.issue({ name: 'long', expiresIn }))
      assert.equal(e.code, 'invalid_argument')
      assert.match(e.message, /100 years/)
    }
    assert.deepEqual((await gate.list()).keys, [])
    const { key } = await gate.issue({ name: 'century', expiresIn: '36525d' })
    assert.ok(key.expiresAt.getFullYear() >= 2100)
    assert.match((await refusal(gate.rotate(key.id, { grace: '40000d' }))).message, /100 years/)
    assert.match((await refusal(gate.update(key.id, { expiresIn: '40000d' }))).message, /expires_?in|100 years/i)
    await gate.close()
  })

  it('ends expiries with 9999-12-31T23:59:59.999Z, and every key stays readable', async () => {
    const gate = await Gate.open(sqliteUrl(tempDir()))
    const last = new Date('9999-12-31T23:59:59.999Z')
    const { key } = await gate.issue({ name: 'latest', expiresAt: last })
    assert.equal((await gate.get(key.id)).expiresAt.getTime(), last.getTime())
    for (const expiresAt of [new Date('+010000-01-01T00:00:00Z'), last.getTime() + 1]) {
      const e = await refusal(gate.issue({ name: 'later', expiresAt }))
      assert.equal(e.code, 'invalid_argument')
      assert.match(e.message, /9999-12-31/)
      assert.equal((await refusal(gate.update(key.id, { expiresAt }))).code, 'invalid_argument')
    }
    const keys = (await gate.list()).keys
    assert.equal(keys.length, 1)
    assert.ok(!Number.isNaN(keys[0].expiresAt.getTime()))
    await gate.close()
  })

  it('refuses credits past 2^53 - 1 and reads the largest back exactly', async () => {
    const gate = await Gate.open(sqliteUrl(tempDir()))
    const { key } = await gate.issue({ name: 'most', remaining: Number.MAX_SAFE_INTEGER })
    assert.equal((await gate.get(key.id)).remaining, Number.MAX_SAFE_INTEGER)
    for (const remaining of [2 ** 53, 2 ** 63, 1e30]) {
      const e = await refusal(gate.issue({ name: 'rich', remaining }))
      assert.equal(e.code, 'invalid_argument')
      assert.match(e.message, /9007199254740991/)
      assert.equal((await refusal(gate.update(key.id, { remaining }))).code, 'invalid_argument')
    }
    assert.equal((await gate.get(key.id)).remaining, Number.MAX_SAFE_INTEGER)
    await gate.close()
  })
})

describe('update', () => {
  it('measures expiresIn from now in the core, and refuses it together with expiresAt', async () => {
    const gate = await Gate.open('memory://')
    const { key } = await gate.issue({ name: 'k' })
    const before = Date.now()
    const updated = await gate.update(key.id, { expiresIn: '1h' })
    const after = Date.now()
    assert.ok(updated.expiresAt.getTime() >= before + 3600e3 - 1000)
    assert.ok(updated.expiresAt.getTime() <= after + 3600e3 + 1000)
    const e = await refusal(gate.update(key.id, { expiresIn: '1h', expiresAt: new Date(after + 7200e3) }))
    assert.equal(e.code, 'invalid_argument')
    assert.match(e.message, /not both/)
    await gate.close()
  })
})

describe('verified webhooks', () => {
  it('inspect as plain values, without Rust formatting', () => {
    const secret = generateSecret('standard')
    const body = Buffer.from('{"a":1}')
    const headers = new WebhookSigner('standard', secret).sign(body, { id: 'msg_1' })
    const msg = new WebhookVerifier('standard', { secrets: [secret] }).verify(body, headers)
    assert.equal(msg.id, 'msg_1')
    const text = util.inspect(msg)
    assert.match(text, /id: 'msg_1'/)
    assert.ok(!text.includes('Some('), text)
  })
})
