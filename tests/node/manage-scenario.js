'use strict'
// Runs tests/vectors/manage_scenario.json through gate.manage on a fresh
// memory store and prints the raw answers as JSON lines (status, headers,
// body text); tests/python/test_manage_same_answers.py compares them with
// Python's. Not a node:test file: the Python test runs it.

const fs = require('node:fs')
const path = require('node:path')
const { Gate } = require('gatepass')

async function main () {
  const scenario = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'vectors', 'manage_scenario.json'), 'utf8'))
  const gate = await Gate.open('memory://')
  const saved = {}
  const out = []
  for (const step of scenario.steps) {
    const target = step.path.replace(/\{(\w+)\}/g, (_, name) => saved[name])
    const [p, query = ''] = target.split(/\?(.*)/s)
    const headers = { Origin: scenario.self_origin }
    let body = Buffer.alloc(0)
    if (step.body !== undefined) {
      body = Buffer.from(JSON.stringify(step.body))
      headers['Content-Type'] = 'application/json'
    } else if (step.raw !== undefined) {
      body = Buffer.from(step.raw)
      headers['Content-Type'] = 'application/json'
    }
    for (const [name, value] of Object.entries(step.headers ?? {})) {
      if (value === null) delete headers[name]
      else headers[name] = value
    }
    const answer = await gate.manage({
      method: step.method,
      path: p,
      query,
      headers: Object.entries(headers),
      selfOrigin: scenario.self_origin,
      body,
      principal: scenario.principals[step.as]
    })
    const text = answer.body.toString('utf8')
    if (step.save && answer.status < 300) {
      const json = JSON.parse(text)
      saved[step.save] = json.key.id
      saved.token = json.token
    }
    out.push({ status: answer.status, headers: answer.headers, body: text })
  }
  await gate.close()
  process.stdout.write(JSON.stringify(out))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
