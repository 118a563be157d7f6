'use strict'
// gate.verify makes one addon call per request (gateVerify): a number naming
// the answer when the core answers from memory, else a Promise of one, the
// core finishing on the thread pool the request it has already parsed. The
// answers must be those of verifySync (the whole verification on the calling
// thread) for every input, long and odd strings included.

const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { Gate } = require('gatepass')
const native = require(path.join(__dirname, '..', '..', 'bindings-node', 'native.js'))

// Lengths around which a former version of the call changed path (its
// stack buffers): kept as edge cases for the string conversions.
const BUFFER = 1024
const RESOURCE_BUFFER = 512
const RESOURCE_MAX = 256 // the longest resource a key can be bound to

/** What a caller can observe of a verification. */
function seen (v) {
  return { code: v.code, status: v.status, headers: v.headers, key: v.key?.id ?? null, missingScopes: v.missingScopes }
}

/** Header values at and around 1 KiB, in bytes of UTF-8. */
function edgeCredentials (token) {
  const out = [undefined, null, '', 'Bearer', `Bearer ${token}`, `Token ${token}`, token, `Basic ${token}`]
  for (let n = BUFFER - 12; n <= BUFFER + 4; n++) {
    out.push(`Bearer ${token}`.padEnd(n, 'a'))
    out.push(`Bearer ${token}`.padEnd(n - 1, ' ') + 'x') // cut short, it would be valid
    out.push(`Bearer ${token} `.padEnd(n, 'é')) // two-byte characters across the edge
    out.push(`Bearer ${'€'.repeat(Math.floor(n / 3))}`) // three-byte
    out.push(`Bearer ${'😀'.repeat(Math.floor(n / 4))}`) // four-byte (surrogate pairs)
  }
  out.push(`Bearer ${token}\uD800`, `Bearer \uDC00${token}`) // lone surrogates
  out.push(`Bearer ${token}`.padEnd(64 * 1024, 'a'))
  return out
}

describe('the verify call', () => {
  it('answers a number at once from memory, a Promise of one from the store', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatepass-boundary-'))
    const ng = await native.openGate(`sqlite:///${path.join(dir, 'keys.db')}`, null, null)
    const { token } = await ng.issue({ name: 'x', scopes: ['bots:read'] })
    const gate = ng.handle()
    const requirement = ng.requirement(['bots:read'], null)
    const header = `Bearer ${token}`
    // Not cached yet: the store is read on the pool.
    const pending = native.gateVerify(gate, header, requirement, null)
    assert.ok(pending instanceof Promise)
    const first = await pending
    assert.equal(typeof first, 'number')
    assert.equal(native.takeVerification(first)[0], 'valid')
    // Cached: a number at once, the same one for every request with this key.
    const second = native.gateVerify(gate, header, requirement, null)
    assert.equal(typeof second, 'number')
    assert.equal(native.gateVerify(gate, header, requirement, undefined), second)
    const entry = native.takeVerification(second)
    assert.deepEqual(entry.slice(0, 3), ['valid', 200, null])
    assert.equal(entry[4], true, 'shared')
    assert.notEqual(native.takeVerification(second), null, 'a shared entry stays')
    // A failure is a number of its own, given up once taken.
    const refused = native.gateVerify(gate, 'Bearer nope', requirement, null)
    const taken = native.takeVerification(refused)
    assert.deepEqual(taken.slice(0, 2), ['malformed_token', 401])
    assert.equal(taken[4], false)
    assert.equal(native.takeVerification(refused), null)
    await ng.close()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('refuses arguments of another type with invalid_argument, and a closed gate with closed', async () => {
    const ng = await native.openGate('memory://', null, null)
    const gate = ng.handle()
    const requirement = ng.requirement(['bots:read'], null)
    const header = 'Bearer gp_x'
    for (const args of [[{}, header, requirement, null], [gate, header, gate, null], [requirement, header, requirement, null]]) {
      assert.throws(() => native.gateVerify(...args), { code: 'invalid_argument' })
    }
    assert.throws(() => native.gateVerify(gate, 42, requirement, null))
    assert.throws(() => native.gateVerify(gate, header, requirement, 7))
    assert.throws(() => native.gateVerify())
    await ng.close()
    assert.throws(() => native.gateVerify(gate, header, requirement, null), { code: 'closed' })
  })

  it('counts each request once, from memory or from the store', async () => {
    const gate = await Gate.open('memory://')
    const { token, key } = await gate.issue({ name: 'x' })
    for (let i = 0; i < 10; i++) assert.equal((await gate.verify(`Bearer ${token}`)).code, 'valid')
    assert.equal((await gate.get(key.id)).usageCount, 10)
    await gate.close()
  })

  it('gives the answers of verifySync for long and odd credentials and resources', async () => {
    const gate = await Gate.open('memory://', { policy: { scopes: ['bots:read', 'bots:write'] } })
    const { token } = await gate.issue({ name: 'x', scopes: ['bots:read'] })
    const bound = await gate.issue({ name: 'bound', resource: 'channel:'.padEnd(RESOURCE_MAX, 'c') })
    await gate.verify(`Bearer ${token}`) // cached from here on
    await gate.verify(`Bearer ${bound.token}`)
    const write = gate.requirement({ scopes: ['bots:write'] })
    for (const credential of edgeCredentials(token)) {
      const label = JSON.stringify(credential)?.slice(0, 60) + ` (${credential?.length} chars)`
      for (const options of [undefined, { requirement: write }]) {
        assert.deepEqual(seen(await gate.verify(credential, options)), seen(gate.verifySync(credential, options)), label)
      }
    }
    // Resources across the resource buffer, the bound key's own included.
    const header = `Bearer ${bound.token}`
    const own = bound.key.resource
    const resources = [own, own.slice(0, 20), undefined]
    for (let n = RESOURCE_BUFFER - 8; n <= RESOURCE_BUFFER + 2; n++) resources.push(own.padEnd(n, 'c'), 'channel:'.padEnd(n, 'é'))
    for (const resource of resources) {
      assert.deepEqual(seen(await gate.verify(header, { resource })), seen(gate.verifySync(header, { resource })), `resource of ${resource?.length} chars`)
    }
    assert.equal((await gate.verify(header, { resource: own })).code, 'valid')
    assert.equal((await gate.verify(header, { resource: own.slice(0, 20) })).code, 'forbidden_resource')
    await gate.close()
  })

  it('gives the answers of verifySync for random credentials and resources', async () => {
    // A seeded generator, so a failure can be replayed.
    let seed = 0x9e3779b9
    const random = (n) => {
      seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0
      return seed % n
    }
    const pieces = ['Bearer ', 'Token ', 'bearer  ', '\t', ' ', ',', '=', '_', 'gp_', 'é', '€', '😀', '\uD800', '\u0000', 'a', 'Z', '9', '~']
    const gate = await Gate.open('memory://')
    const { token } = await gate.issue({ name: 'x', resource: 'channel:c1' })
    await gate.verify(`Bearer ${token}`)
    for (let i = 0; i < 3000; i++) {
      let credential = random(4) === 0 ? `Bearer ${token}` : ''
      const parts = random(4) === 0 ? 200 + random(400) : random(12)
      for (let j = 0; j < parts; j++) credential += random(3) === 0 ? token.slice(random(token.length)) : pieces[random(pieces.length)]
      const resource = [undefined, 'channel:c1', 'channel:c2', 'é'.repeat(random(300))][random(4)]
      assert.deepEqual(seen(await gate.verify(credential, { resource })), seen(gate.verifySync(credential, { resource })), JSON.stringify(credential).slice(0, 80))
    }
    await gate.close()
  })

  it('converts answers that carry headers: a rate-limited key', async () => {
    const gate = await Gate.open('memory://')
    const { token } = await gate.issue({ name: 'x', rateLimit: '2/minute' })
    const header = `Bearer ${token}`
    const codes = []
    for (let i = 0; i < 4; i++) {
      const v = await gate.verify(header)
      codes.push(v.code)
      assert.match(v.headers['ratelimit-policy'] ?? v.headers['RateLimit-Policy'], /2/)
    }
    assert.deepEqual(codes, ['valid', 'valid', 'rate_limited', 'rate_limited'])
    await gate.close()
  })
})
