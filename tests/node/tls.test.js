'use strict'
// TLS from the Node package to the real Postgres and Redis of
// scripts/services.sh (a generated CA; the certificate names 127.0.0.1 and
// localhost only): the URL options reach the core unchanged and its errors
// arrive as the documented classes.
//
// Without the servers these tests are SKIPPED with a loud message; under
// CI=true they fail instead.
//   eval "$(bash scripts/services.sh start)" && node --test tests/node/tls.test.js

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')

const { Gate, StoreError, ConfigError } = require('gatepass')

const POSTGRES = process.env.GATEPASS_TEST_POSTGRES_URL || null
const REDIS_TLS = process.env.GATEPASS_TEST_REDIS_TLS_URL || null
const CA = process.env.GATEPASS_TEST_TLS_CA || null
const OTHER_CA = process.env.GATEPASS_TEST_TLS_OTHER_CA || null
const CI = process.env.CI === 'true'
const missing = [
  !POSTGRES && 'GATEPASS_TEST_POSTGRES_URL',
  !REDIS_TLS && 'GATEPASS_TEST_REDIS_TLS_URL',
  !CA && 'GATEPASS_TEST_TLS_CA',
  !OTHER_CA && 'GATEPASS_TEST_TLS_OTHER_CA'
].filter(Boolean)
const skip = missing.length > 0 && !CI && `${missing.join(', ')} not set`
if (skip) {
  console.error(`\n*** SKIPPED: TLS tests on Postgres/Redis: ${skip}. ` +
    'Start the servers with `eval "$(bash scripts/services.sh start)"` to run them. ***\n')
}

async function sql (text) {
  const { Client } = require('pg')
  const client = new Client({ connectionString: POSTGRES })
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}

describe('TLS to Postgres and Redis', { skip }, () => {
  let schema, url

  before(async () => {
    assert.ok(missing.length === 0, `CI=true needs ${missing.join(', ')}: scripts/services.sh must start the servers`)
    schema = `gp_test_${crypto.randomBytes(6).toString('hex')}`
    await sql(`CREATE SCHEMA ${schema}`)
    const sep = POSTGRES.includes('?') ? '&' : '?'
    url = `${POSTGRES}${sep}options=-csearch_path%3D${schema}`
  })

  after(async () => {
    if (schema) await sql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  })

  it('verify-full Postgres and rediss:// rate limits with the right CA', async () => {
    const gate = await Gate.open(`${url}&sslmode=verify-full&sslrootcert=${CA}`, {
      rateLimiter: `${REDIS_TLS}?sslrootcert=${CA}`
    })
    try {
      const { token } = await gate.issue({ name: 'over tls', rateLimit: '1/hour' })
      assert.equal((await gate.verify(`Bearer ${token}`)).code, 'valid')
      assert.equal((await gate.verify(`Bearer ${token}`)).code, 'rate_limited')
    } finally {
      await gate.close()
    }
  })

  it('another CA is a StoreError that says why', async () => {
    await assert.rejects(Gate.open(`${url}&sslmode=verify-full&sslrootcert=${OTHER_CA}`), (err) => {
      assert.ok(err instanceof StoreError, err)
      assert.equal(err.code, 'store_unavailable')
      assert.match(err.message, /UnknownIssuer/)
      return true
    })
    await assert.rejects(Gate.open('memory://', { rateLimiter: `${REDIS_TLS}?sslrootcert=${OTHER_CA}` }), (err) => {
      assert.ok(err instanceof StoreError, err)
      assert.match(err.message, /UnknownIssuer/)
      return true
    })
  })

  it('sslmode=prefer is a ConfigError', async () => {
    await assert.rejects(Gate.open(`${url}&sslmode=prefer`), (err) => {
      assert.ok(err instanceof ConfigError, err)
      assert.equal(err.code, 'config_error')
      assert.match(err.message, /plaintext/)
      return true
    })
  })
})
