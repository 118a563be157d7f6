'use strict'
// Benchmarks (not tests): gatepass against the alternatives, in one run,
// printed as ratios. Webhook verification of a 1 KiB body against
// standardwebhooks, svix, stripe, @octokit/webhooks-methods, @line/bot-sdk,
// discord-interactions, tweetnacl and a hand-rolled node:crypto verify; then an Express server with authenticate+requireScopes
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

  results.push(...await chatPlatforms(buf, payload))

  console.log('\nWebhook verify, 1 KiB body (median per call, interleaved rounds):')
  const ours = Object.fromEntries(results.filter((r) => r[1] === 'gatepass').map((r) => [r[0], r[2]]))
  for (const [scheme, lib, ns] of results) {
    const ratio = lib === 'gatepass' ? '' : `  gatepass is ${(ns / ours[scheme]).toFixed(1)}× faster`
    console.log(`  ${scheme.padEnd(9)} ${lib.padEnd(34)} ${fmt(ns)}${ratio}`)
  }
  return results
}

/**
 * The chat platforms' schemes: each official receiving library where one
 * exists (@line/bot-sdk, discord-interactions, tweetnacl), and a hand-rolled
 * node:crypto check for each (Ed25519 through a KeyObject made once).
 */
async function chatPlatforms (buf, payload) {
  const { WebhookVerifier, WebhookSigner, generateSecret, generateKeypair } = require('gatepass')
  const out = []
  // Verifiers of timestamped schemes get a fixed clock at signing time, so a
  // slow run on a loaded machine cannot age the signature out of the window.
  const signedAt = Date.now()
  const hmacCheck = (alg, secret, msg, prefix, encoding, got) => {
    const expected = Buffer.from(prefix + crypto.createHmac(alg, secret).update(msg).digest(encoding))
    const received = Buffer.from(got)
    return received.length === expected.length && crypto.timingSafeEqual(received, expected)
  }

  // line: @line/bot-sdk validateSignature
  const { validateSignature } = require('@line/bot-sdk')
  const lineSecret = generateSecret('line')
  const lineHeaders = new WebhookSigner('line', lineSecret).sign(buf)
  const lineSig = lineHeaders['x-line-signature']
  const gpLine = new WebhookVerifier('line', { secret: lineSecret })
  const [gLine, tLine, hLine] = await compare([
    { fn: () => gpLine.verify(buf, lineHeaders) },
    { fn: () => validateSignature(payload, lineSecret, lineSig) },
    { fn: () => hmacCheck('sha256', lineSecret, buf, '', 'base64', lineSig) }
  ])
  out.push(['line', 'gatepass', gLine], ['line', '@line/bot-sdk validateSignature', tLine], ['line', 'hand-rolled node:crypto', hLine])

  // meta, intercom, chatwoot: no receiving library
  for (const [scheme, name, alg, prefix] of [
    ['meta', 'X-Hub-Signature-256', 'sha256', 'sha256='],
    ['intercom', 'X-Hub-Signature', 'sha1', 'sha1='],
    ['chatwoot', 'X-Chatwoot-Signature', 'sha256', 'sha256=']
  ]) {
    const secret = generateSecret(scheme)
    const headers = new WebhookSigner(scheme, secret).sign(buf)
    const v = new WebhookVerifier(scheme, { secret, now: signedAt })
    const hand = scheme === 'chatwoot'
      ? () => {
          const ts = headers['X-Chatwoot-Timestamp']
          if (Math.abs(signedAt / 1000 - Number(ts)) > 300) throw new Error('timestamp')
          return hmacCheck(alg, secret, Buffer.concat([Buffer.from(ts + '.'), buf]), prefix, 'hex', headers[name])
        }
      : () => hmacCheck(alg, secret, buf, prefix, 'hex', headers[name])
    const [g, h] = await compare([{ fn: () => v.verify(buf, headers) }, { fn: hand }])
    out.push([scheme, 'gatepass', g], [scheme, 'hand-rolled node:crypto', h])
  }

  // discord: discord-interactions verifyKey (WebCrypto), tweetnacl, node:crypto
  const { verifyKey } = require('discord-interactions')
  const nacl = require('tweetnacl')
  const { signingKey, verifyingKey } = generateKeypair('discord')
  const dHeaders = new WebhookSigner('discord', signingKey).sign(buf)
  const dSig = dHeaders['X-Signature-Ed25519']
  const dTs = dHeaders['X-Signature-Timestamp']
  const gpDiscord = new WebhookVerifier('discord', { secret: verifyingKey, now: signedAt })
  const pub = Buffer.from(verifyingKey, 'hex')
  const keyObject = crypto.createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]), format: 'der', type: 'spki' })
  const [gD, tDi, tNacl, tNode] = await compare([
    { fn: () => gpDiscord.verify(buf, dHeaders) },
    { fn: () => verifyKey(buf, dSig, dTs, verifyingKey), async: true },
    { fn: () => nacl.sign.detached.verify(Buffer.concat([Buffer.from(dTs), buf]), Buffer.from(dSig, 'hex'), pub) },
    { fn: () => crypto.verify(null, Buffer.concat([Buffer.from(dTs), buf]), keyObject, Buffer.from(dSig, 'hex')) }
  ])
  out.push(['discord', 'gatepass', gD], ['discord', 'discord-interactions verifyKey (await)', tDi],
    ['discord', 'tweetnacl sign.detached.verify', tNacl], ['discord', 'node:crypto verify (KeyObject)', tNode])

  // standard v1a (Ed25519): no Standard Webhooks library implements it;
  // tweetnacl and node:crypto by hand, as a receiver would write them
  const std = generateKeypair('standard')
  const sHeaders = new WebhookSigner('standard', std.signingKey).sign(buf, { id: 'msg_bench', timestamp: new Date(signedAt) })
  const gpV1a = new WebhookVerifier('standard', { secret: std.verifyingKey, now: signedAt })
  const sPub = Buffer.from(std.verifyingKey.slice('whpk_'.length), 'base64')
  const sKey = crypto.createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), sPub]), format: 'der', type: 'spki' })
  const v1aBy = (check) => () => {
    const ts = sHeaders['webhook-timestamp']
    if (Math.abs(signedAt / 1000 - Number(ts)) > 300) throw new Error('timestamp')
    const signed = Buffer.concat([Buffer.from(`${sHeaders['webhook-id']}.${ts}.`), buf])
    for (const part of sHeaders['webhook-signature'].split(' ')) {
      const [version, encoded] = part.split(',')
      if (version === 'v1a') return check(signed, Buffer.from(encoded, 'base64'))
    }
    throw new Error('signature')
  }
  const [gV1a, tV1aNacl, tV1aNode] = await compare([
    { fn: () => gpV1a.verify(buf, sHeaders) },
    { fn: v1aBy((signed, sig) => nacl.sign.detached.verify(signed, sig, sPub)) },
    { fn: v1aBy((signed, sig) => crypto.verify(null, signed, sKey, sig)) }
  ])
  out.push(['v1a', 'gatepass', gV1a], ['v1a', 'hand-rolled tweetnacl', tV1aNacl], ['v1a', 'hand-rolled node:crypto (KeyObject)', tV1aNode])

  // token in a header of its own (Telegram): no receiving library checks it
  // (node-telegram-bot-api and telegraf compare it in their own servers)
  const tgName = 'x-telegram-bot-api-secret-token'
  const tgSecret = 'tg_' + 's3cr3t'.repeat(8)
  const tgHeaders = { [tgName]: tgSecret, 'content-type': 'application/json' }
  const gpTg = new WebhookVerifier('token', { secret: tgSecret, header: 'X-Telegram-Bot-Api-Secret-Token' })
  const tgExpected = Buffer.from(tgSecret)
  const [gTg, hTg] = await compare([
    { fn: () => gpTg.verify(buf, tgHeaders) },
    {
      fn: () => {
        const got = Buffer.from(tgHeaders[tgName] ?? '')
        return got.length === tgExpected.length && crypto.timingSafeEqual(got, tgExpected)
      }
    }
  ])
  out.push(['token', 'gatepass', gTg], ['token', 'hand-rolled timingSafeEqual', hTg])
  return out
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
