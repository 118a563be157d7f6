'use strict'
// The hand-written typings compile against real usage (tsc --noEmit, strict).

const { it } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { ROOT } = require('./helpers.js')

it('tsc --noEmit accepts the documented usage and rejects misuse', () => {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  const run = spawnSync(process.execPath, [tsc, '-p', path.join(__dirname, 'tsconfig.json')], { encoding: 'utf8' })
  assert.equal(run.status, 0, run.stdout + run.stderr)
})
