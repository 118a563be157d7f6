'use strict'
// In-process benchmark for Express (not a test), the counterpart of
// inprocess.py: the app of express_app.js served on loopback inside this
// process and called by this process, one request at a time over one
// keep-alive connection, in short batches alternating between the three
// routes. Each batch's process CPU time (process.cpuUsage: every thread,
// libuv's pool and gatepass's usage flusher included) is read. The client's
// own cost is the same for every route, so the difference between the
// gatepass and header-only routes, per round, is what gatepass adds; on a
// shared machine whose CPU speed drifts, alternating short batches puts the
// drift on all three routes alike.
//
//   node benchmarks/http/inprocess.js [ROUNDS] [BATCH]
//
// GATEPASS_PACKAGE may name another build's bindings-node directory, as for
// express_app.js. Prints one JSON object: per route, µs of CPU per request.

const fs = require('node:fs')
const http = require('node:http')
const os = require('node:os')
const path = require('node:path')
const { build, Gate } = require('./express_app.js')

const ROUTES = ['none', 'header', 'gatepass']

function get (agent, port, route, token) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: `/${route}`, agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume()
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`/${route} answered ${res.statusCode}`))))
    })
    req.on('error', reject)
    req.end()
  })
}

async function main () {
  const rounds = Number(process.argv[2] || 30)
  const batch = Number(process.argv[3] || 500)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatepass-inprocess-'))
  const gate = await Gate.open(`sqlite:///${path.join(dir, 'keys.db')}`)
  const { token } = await gate.issue({ name: 'bench', scopes: ['bots:read'] })
  const server = build(gate).listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const port = server.address().port
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const run = async (route) => {
    const before = process.cpuUsage()
    for (let i = 0; i < batch; i++) await get(agent, port, route, token)
    const used = process.cpuUsage(before)
    return (used.user + used.system) / batch
  }
  for (const route of ROUTES) await run(route) // warm-up: JIT, the key's cache entry
  const results = Object.fromEntries(ROUTES.map((r) => [r, []]))
  for (let r = 0; r < rounds; r++) {
    const k = r % ROUTES.length
    for (const route of [...ROUTES.slice(k), ...ROUTES.slice(0, k)]) results[route].push(await run(route))
  }
  agent.destroy()
  server.close()
  await gate.close()
  fs.rmSync(dir, { recursive: true, force: true })
  process.stdout.write(JSON.stringify(results) + '\n')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
