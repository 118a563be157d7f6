'use strict'
// Benchmarks (not tests): gatepass against the alternatives, in one run,
// printed as ratios. Webhook verification of a 1 KiB body against
// standardwebhooks, svix, stripe, @octokit/webhooks-methods and a hand-rolled
// node:crypto verify; then an Express server with authenticate+requireScopes
// on sqlite:// against the same server with no auth (autocannon, loopback,
// bounded duration).
//
//   node benchmarks/node/bench.js            # everything
//   BENCH_SECONDS=3 node benchmarks/node/bench.js --webhooks-only   # or --express-only

const crypto = require('node:crypto')
const path = require('node:path')
const os = require('node:os')
const fs = require('node:fs')
const { fork } = require('node:child_process')

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const TARGET_MS = 1500

function body1k () {
  const base = { type: 'message.created', conversation: 'conv_123', text: '' }
  let s = JSON.stringify(base)
  base.text = 'x'.repeat(1024 - s.length)
  s = JSON.stringify(base)
  return s
}

/** Calls per timed round so that one round of `fn` takes ~50 ms. */
async function roundSize (fn) {
  for (let i = 0; i < 2000; i++) await fn()
  let n = 500
  for (;;) {
    const t = process.hrtime.bigint()
    for (let i = 0; i < n; i++) await fn()
    if (Number(process.hrtime.bigint() - t) / 1e6 > 50) return n
    n *= 2
  }
}

/**
 * Median ns/op of each function, timed in interleaved rounds (A B C A B C …)
 * so that load from other processes on this shared machine falls on every
 * contender alike. Sync functions are called directly; `async: true` ones
 * are awaited.
 */
async function compare (contenders) {
  const sizes = []
  for (const c of contenders) sizes.push(c.async ? await roundSize(c.fn) : await roundSize(c.fn))
  const rounds = contenders.map(() => [])
  const deadline = Date.now() + TARGET_MS * contenders.length
  while (Date.now() < deadline || rounds[0].length < 7) {
    for (let k = 0; k < contenders.length; k++) {
      const { fn, async } = contenders[k]
      const n = sizes[k]
      const t = process.hrtime.bigint()
      if (async) {
        for (let i = 0; i < n; i++) await fn()
      } else {
        for (let i = 0; i < n; i++) fn()
      }
      rounds[k].push(Number(process.hrtime.bigint() - t) / n)
    }
  }
  return rounds.map(median)
}

/** The middle value; for an even count, the mean of the two middle ones. */
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

const fmt = (ns) => (ns / 1000).toFixed(2).padStart(7) + ' µs'

async function webhooks () {
  const { WebhookVerifier, WebhookSigner, generateSecret } = require('gatepass')
  const payload = body1k()
  const buf = Buffer.from(payload)
  const results = []

  // standard: gatepass vs standardwebhooks vs svix
  const stdSecret = generateSecret('standard')
  const stdHeaders = new WebhookSigner('standard', stdSecret).sign(buf, { id: 'msg_bench' })
  const gpStd = new WebhookVerifier('standard', { secret: stdSecret })
  const { Webhook: StdWebhook } = require('standardwebhooks')
  const std = new StdWebhook(stdSecret)
  const { Webhook: SvixWebhook } = require('svix')
  const svix = new SvixWebhook(stdSecret)
  const svixHeaders = { 'svix-id': stdHeaders['webhook-id'], 'svix-timestamp': stdHeaders['webhook-timestamp'], 'svix-signature': stdHeaders['webhook-signature'] }
  const [gStd, tStd, tSvix] = await compare([
    { fn: () => gpStd.verify(buf, stdHeaders) },
    { fn: () => std.verify(payload, stdHeaders) },
    { fn: () => svix.verify(payload, svixHeaders) }
  ])
  results.push(['standard', 'gatepass', gStd], ['standard', 'standardwebhooks', tStd], ['standard', 'svix', tSvix])

  // stripe: gatepass vs stripe's verifyHeader
  const Stripe = require('stripe')
  const stripe = new Stripe('sk_test_not_used_offline')
  const stripeSecret = generateSecret('stripe')
  const stripeHeader = stripe.webhooks.generateTestHeaderString({ payload, secret: stripeSecret })
  const gpStripe = new WebhookVerifier('stripe', { secret: stripeSecret })
  const stripeHeaders = { 'stripe-signature': stripeHeader }
  const [gStripe, tStripe] = await compare([
    { fn: () => gpStripe.verify(buf, stripeHeaders) },
    { fn: () => stripe.webhooks.signature.verifyHeader(payload, stripeHeader, stripeSecret) }
  ])
  results.push(['stripe', 'gatepass', gStripe], ['stripe', 'stripe verifyHeader', tStripe])

  // github: gatepass vs octokit vs hand-rolled node:crypto
  const ghSecret = generateSecret('github')
  const octokit = await import('@octokit/webhooks-methods')
  const ghSig = await octokit.sign(ghSecret, payload)
  const gpGh = new WebhookVerifier('github', { secret: ghSecret })
  const ghHeaders = { 'x-hub-signature-256': ghSig }
  const handRolled = () => {
    const expected = Buffer.from('sha256=' + crypto.createHmac('sha256', ghSecret).update(buf).digest('hex'))
    const got = Buffer.from(ghHeaders['x-hub-signature-256'])
    return got.length === expected.length && crypto.timingSafeEqual(got, expected)
  }
  const [gGh, tOcto, tHand] = await compare([
    { fn: () => gpGh.verify(buf, ghHeaders) },
    { fn: () => octokit.verify(ghSecret, payload, ghSig), async: true },
    { fn: handRolled }
  ])
  results.push(['github', 'gatepass', gGh], ['github', '@octokit/webhooks-methods (await)', tOcto], ['github', 'hand-rolled node:crypto', tHand])

  console.log('\nWebhook verify, 1 KiB body (median per call, interleaved rounds):')
  const ours = Object.fromEntries(results.filter((r) => r[1] === 'gatepass').map((r) => [r[0], r[2]]))
  for (const [scheme, lib, ns] of results) {
    const ratio = lib === 'gatepass' ? '' : `  gatepass is ${(ns / ours[scheme]).toFixed(1)}× faster`
    console.log(`  ${scheme.padEnd(9)} ${lib.padEnd(34)} ${fmt(ns)}${ratio}`)
  }
  return results
}

// ----- Express throughput ----------------------------------------------------

function server (mode, dbUrl, token) {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--server', mode], { env: { ...process.env, BENCH_DB: dbUrl, BENCH_TOKEN: token }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    child.once('message', (port) => resolve({ child, port }))
    child.once('error', reject)
  })
}

async function runServer (mode) {
  const express = require('express')
  const app = express()
  if (mode === 'auth') {
    const { Gate } = require('gatepass')
    const { authenticate, requireScopes, problemDetails } = require('gatepass/express')
    const gate = await Gate.open(process.env.BENCH_DB)
    app.get('/v1/bots', authenticate(gate), requireScopes('bots:read'), (req, res) => res.json({ bots: [], key: req.gatepass.key.id }))
    app.use(problemDetails())
  } else {
    app.get('/v1/bots', (req, res) => res.json({ bots: [], key: 'key_none' }))
  }
  const s = app.listen(0, '127.0.0.1', () => process.send(s.address().port))
  process.on('disconnect', () => process.exit(0))
}

async function throughput (port, token, seconds = SECONDS) {
  const autocannon = require('autocannon')
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/v1/bots`,
    connections: 16,
    duration: seconds,
    headers: { authorization: `Bearer ${token}` }
  })
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`bench server answered ${result.non2xx} non-2xx, ${result.errors} errors`)
  return result.requests.average
}

const PAIRS = Number(process.env.BENCH_PAIRS ?? 4)

async function express () {
  const { Gate } = require('gatepass')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatepass-bench-'))
  const dbUrl = `sqlite:///${path.join(dir, 'bench.db')}`
  const gate = await Gate.open(dbUrl)
  const { token } = await gate.issue({ name: 'bench', scopes: ['bots:write'] })
  await gate.close()
  // Pairs of runs (no auth, then auth) back to back, so that load from other
  // processes on this shared machine hits both halves of a pair alike; the
  // ratio is the median of the per-pair ratios.
  const none = []
  const auth = []
  for (let i = 0; i < PAIRS; i++) {
    for (const [mode, into] of [['none', none], ['auth', auth]]) {
      const { child, port } = await server(mode, dbUrl, token)
      await throughput(port, token, 1).catch(() => {}) // warm-up, discarded
      into.push(await throughput(port, token))
      child.disconnect()
    }
  }
  const ratios = none.map((n, i) => auth[i] / n)
  console.log(`\nExpress GET /v1/bots, autocannon 16 connections × ${SECONDS} s, loopback, ${PAIRS} interleaved pairs (median req/s):`)
  console.log(`  no auth                                    ${median(none).toFixed(0).padStart(7)} req/s`)
  console.log(`  authenticate + requireScopes (sqlite://)   ${median(auth).toFixed(0).padStart(7)} req/s`)
  console.log(`  auth / no auth per pair: ${ratios.map((r) => (100 * r).toFixed(0) + '%').join(', ')}; median ${(100 * median(ratios)).toFixed(1)}%`)
  fs.rmSync(dir, { recursive: true, force: true })
}

async function main () {
  if (process.argv[2] === '--server') return runServer(process.argv[3])
  console.log(`gatepass Node benchmarks — node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`)
  if (!process.argv.includes('--express-only')) await webhooks()
  if (!process.argv.includes('--webhooks-only')) await express()
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
