'use strict'
// gatepass for Node: API tokens, scopes and webhook signatures.
//
// A thin layer over the native addon (native.js loads it): argument checks
// and normalisation (Dates, durations), error classes, secret hygiene
// (tokens never show in util.inspect / JSON / spreading) and flushing usage
// counts at exit. Every rule lives in the Rust core.

const { inspect } = require('node:util')
const native = loadAddon()
const errors = require('./errors.js')

// Without this, a missing addon surfaces as napi's generic "Cannot find
// native binding" text; install.js names the platform and what to run.
function loadAddon () {
  try {
    return require('./native.js')
  } catch (cause) {
    throw require('./install.js').missingAddonError(cause)
  }
}

const { fromNative, AuthError, ConfigError } = errors

/** Used when `Gate.open()` gets no URL and `$GATEPASS_STORE` is unset. */
const DEFAULT_STORE_URL = 'sqlite:///gatepass.db'

/** `$GATEPASS_STORE`, else `sqlite:///gatepass.db`, read by the core as in every binding. */
function defaultStoreUrl () {
  return native.storeUrl(null)
}

function invalid (message) {
  const e = new TypeError(message)
  e.code = 'invalid_argument'
  return e
}

function checkOptions (what, options, allowed) {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw invalid(`${what}: options must be an object`)
  }
  for (const name in options) {
    if (!allowed.has(name)) {
      throw invalid(`${what}: unknown option ${JSON.stringify(name)} (expected one of ${[...allowed].join(', ')})`)
    }
  }
  return options
}

function checkCredential (what, credential) {
  if (credential !== undefined && credential !== null && typeof credential !== 'string') {
    throw invalid(`${what}: the credential must be a string (an Authorization header value or a token)`)
  }
}

function checkId (what, id) {
  if (typeof id !== 'string') throw invalid(`${what}: the key id must be a string`)
  return id
}

/** Unix milliseconds from a Date or a number of milliseconds. */
function toMillis (field, value) {
  if (value instanceof Date) return value.getTime()
  if (typeof value === 'number') return value
  throw invalid(`${field} must be a Date or Unix milliseconds`)
}

/**
 * A duration as the addon takes it: text with a unit ("300s", "90d"). A
 * number goes on too, so the core refuses it with its one message (a bare
 * number is never a duration, in either language).
 */
function toDuration (field, value) {
  if (typeof value === 'string' || typeof value === 'number') return value
  throw invalid(`${field} must be a duration with a unit, such as "300s", "5m" or "90d"`)
}

function optional (value, convert) {
  return value === undefined || value === null ? undefined : convert(value)
}

// ----- flushing usage at exit -------------------------------------------------

// Usage counts are batched in memory; write them when the process ends
// normally. (On SIGINT/SIGTERM, call `gate.close()` from your handler.)
const liveGates = new Set()
let exitHooked = false

function flushAtExit () {
  for (const ref of liveGates) {
    const handle = ref.deref()
    if (!handle) {
      liveGates.delete(ref)
      continue
    }
    try {
      handle.flushSync()
    } catch (e) {
      process.emitWarning(`gatepass: usage counts could not be written at exit: ${e.message}`)
    }
  }
}

function track (handle) {
  if (!exitHooked) {
    process.on('beforeExit', flushAtExit)
    process.on('exit', flushAtExit)
    exitHooked = true
  }
  const ref = new WeakRef(handle)
  liveGates.add(ref)
  return ref
}

// ----- results ----------------------------------------------------------------

/**
 * The public key record from the addon's JSON text (bindings-node/src/key.rs):
 * an object whose members already have their JavaScript names; the times
 * arrive as Unix milliseconds and become `Date`s here. One string and
 * `JSON.parse` cost far less than the same object assembled field by field
 * through N-API. (tests/node/key-fields.test.js fails when a name read here
 * is not one the addon writes, or the other way round.)
 */
function keyFrom (json) {
  return keyOf(JSON.parse(json))
}

/** `scopes` and `metadata` are given as copies when `k` is kept for later. */
function keyOf (k, scopes = k.scopes, metadata = k.metadata) {
  return {
    id: k.id,
    name: k.name,
    kind: k.kind,
    start: k.start,
    scopes,
    subject: k.subject,
    resource: k.resource,
    metadata,
    status: k.status,
    createdAt: new Date(k.createdAt),
    updatedAt: new Date(k.updatedAt),
    expiresAt: k.expiresAt === null ? null : new Date(k.expiresAt),
    revokedAt: k.revokedAt === null ? null : new Date(k.revokedAt),
    lastUsedAt: k.lastUsedAt === null ? null : new Date(k.lastUsedAt),
    usageCount: k.usageCount,
    rateLimit: k.rateLimit,
    remaining: k.remaining,
    effectiveRateLimit: k.effectiveRateLimit
  }
}

function pageFrom (json) {
  const page = JSON.parse(json)
  page.keys = page.keys.map((k) => keyOf(k))
  return page
}

/**
 * A newly issued or rotated key. The token is shown once: it is readable
 * (`issued.token`, destructuring), but is not enumerable, so it stays out of
 * `console.log`, `util.inspect`, `JSON.stringify` and `{ ...issued }`.
 */
class Issued {
  constructor (raw) {
    Object.defineProperty(this, 'token', { value: raw.token, enumerable: false })
    this.key = keyFrom(raw.key)
  }

  toString () {
    return `[Issued ${this.key.start}…]`
  }

  [inspect.custom] (depth, options, inspectFn = inspect) {
    return `Issued ${inspectFn({ token: `${this.key.start}… (redacted)`, key: this.key }, options)}`
  }
}

/**
 * `gate.verify` for `gatepass/express`, which answers a request without a
 * Promise when it can: `(gate, credential, requirement, resource)` gives a
 * `Verification` when the addon answered from memory, else a Promise of one.
 * Throws (or rejects) as `gate.verify` rejects.
 */
let verifyNow

/** `gate.authorize` with a built requirement, for `gatepass/express`. */
let authorizeNow

/** Header pairs `[name, value, …]` from the addon as an object. */
function headersFrom (flat) {
  const headers = {}
  if (flat !== null) {
    for (let i = 0; i < flat.length; i += 2) headers[flat[i]] = flat[i + 1]
  }
  return headers
}

const NOT_READ = Symbol('not read')
const NO_FAILURE = Object.freeze({ missingScopes: Object.freeze([]), problem: null })

// ----- verifications by number -----------------------------------------------
//
// Every verify answer arrives as a number naming it in the addon
// (bindings-node/src/shared.rs), and `takeVerification` gives its entry:
// `[code, status, headers, handle, shared]`. A valid verification answered
// from memory with no headers to send keeps one number for every request
// with the same key record and scheme (`shared`); its entry is kept here
// with what is read through it (the key's fields, `authorize` answers), so
// those requests cross N-API once.

const MAX_SHARED = 10000
/**
 * number → entry of a shared verification: `{ ok, code, status, flat,
 * handle, shared, gate, fields, authorized }`; `authorized` maps a
 * requirement's handle to the core's answer (weakly, so requirements built
 * per request do not pile up), for `gate`, the first gate that asked.
 */
const sharedVerifications = new Map()
let entryOf

/** The entry a number names; taken from the addon the first time. */
function entryFor (number) {
  let entry = sharedVerifications.get(number)
  if (entry === undefined) {
    // Asked right after the call that returned the number: always there.
    const raw = native.takeVerification(number)
    if (raw === null) throw new Error(`gatepass: verification ${number} is gone`)
    entry = { ok: raw[0] === 'valid', code: raw[0], status: raw[1], flat: raw[2], handle: raw[3], shared: raw[4], gate: null, fields: null, authorized: null }
    if (entry.shared) {
      entry.authorized = new WeakMap()
      if (sharedVerifications.size >= MAX_SHARED) sharedVerifications.clear()
      sharedVerifications.set(number, entry)
    }
  }
  return entry
}

/** The `Verification` a number from the addon names. */
function verificationOf (number) {
  return new Verification(entryFor(number))
}

/** A key made from kept fields, sharing nothing mutable with them. */
function keyCopyOf (k) {
  return keyOf(k, k.scopes.slice(), isEmpty(k.metadata) ? {} : structuredClone(k.metadata))
}

function isEmpty (object) {
  for (const _ in object) return false
  return true
}

/**
 * The outcome of `gate.verify`: `{ ok, code, status, headers, key,
 * missingScopes, problem }`. `ok`, `code`, `status` and `headers` arrive with
 * it; the key, the missing scopes and the problem body stay in the addon
 * until first read (most requests never read them all), then are kept.
 */
class Verification {
  /** The addon's entry (see `entryFor`). */
  #entry
  #key = NOT_READ
  #failure = NOT_READ

  constructor (entry) {
    this.ok = entry.ok
    this.code = entry.code
    this.status = entry.status
    this.headers = headersFrom(entry.flat)
    this.#entry = entry
  }

  /** The key, once it was found (also on most failures after lookup); else `null`. */
  get key () {
    if (this.#key === NOT_READ) {
      const entry = this.#entry
      if (entry.shared) {
        entry.fields ??= JSON.parse(native.verificationKey(entry.handle))
        this.#key = keyCopyOf(entry.fields)
      } else {
        const raw = native.verificationKey(entry.handle)
        this.#key = raw === null ? null : keyFrom(raw)
      }
    }
    return this.#key
  }

  #details () {
    if (this.#failure === NOT_READ) {
      this.#failure = this.ok ? NO_FAILURE : native.verificationFailure(this.#entry.handle)
    }
    return this.#failure
  }

  /** The scopes the key lacks (`insufficient_scope`); else empty. */
  get missingScopes () {
    return [...this.#details().missingScopes]
  }

  /** The RFC 9457 problem body (`application/problem+json`); `null` when valid. */
  get problem () {
    return this.#details().problem
  }

  toJSON () {
    const { ok, code, status, headers, key, missingScopes, problem } = this
    return { ok, code, status, headers, key, missingScopes, problem }
  }

  [inspect.custom] (depth, options, inspectFn = inspect) {
    return `Verification ${inspectFn(this.toJSON(), options)}`
  }

  static {
    entryOf = (v) => {
      if (!(v instanceof Verification)) throw invalid('expected a Verification from gate.verify()')
      return v.#entry
    }
  }
}

// ----- scope requirements -----------------------------------------------------

/**
 * Parses a route's requirement (syntax only): `scopes` is an array (all of
 * them) or a string (an expression); `anyScopes` an array (any of them).
 * `gate.requirement()` also checks the policy's catalogue.
 */
function parseRequirement ({ scopes, anyScopes } = {}) {
  try {
    return new Requirement(MADE_HERE, native.parseRequirement(scopes ?? null, anyScopes ?? null))
  } catch (e) {
    throw fromNative(e)
  }
}

const MADE_HERE = Symbol('made by gatepass')
let requirementHandle

/**
 * A parsed route requirement (opaque), shared by every request of a route:
 * build one with `gate.requirement()` or `parseRequirement()`.
 */
class Requirement {
  #handle

  constructor (madeHere, handle) {
    if (madeHere !== MADE_HERE) throw invalid('use gate.requirement() or parseRequirement() to make a Requirement')
    this.#handle = handle
  }

  /** The requirement as an expression, e.g. `bots:read and channels:write`. */
  toString () {
    return native.requirementToString(this.#handle)
  }

  /** Whether the requirement asks for nothing. */
  get isEmpty () {
    return native.requirementIsEmpty(this.#handle)
  }

  [inspect.custom] () {
    return `Requirement <${this.toString()}>`
  }

  static {
    requirementHandle = (r) => {
      if (!(r instanceof Requirement)) throw invalid('expected a Requirement from gate.requirement() or parseRequirement()')
      return r.#handle
    }
  }
}

function requirementKey (scopes, anyScopes) {
  const plain = (v) => v === undefined || v === null || typeof v === 'string' || (Array.isArray(v) && v.every((s) => typeof s === 'string'))
  return plain(scopes) && plain(anyScopes) ? JSON.stringify([scopes ?? null, anyScopes ?? null]) : null
}

const MAX_CACHED_REQUIREMENTS = 1000

// ----- Gate -------------------------------------------------------------------

const ISSUE_OPTIONS = new Set(['name', 'kind', 'scopes', 'subject', 'resource', 'metadata', 'expiresIn', 'expiresAt', 'rateLimit', 'remaining', 'actor', 'ip', 'userAgent'])
const USAGE_OPTIONS = new Set(['since', 'until', 'step'])
const UPDATE_OPTIONS = new Set(['name', 'scopes', 'metadata', 'expiresIn', 'expiresAt', 'rateLimit', 'remaining', 'actor', 'ip', 'userAgent'])
const LIST_OPTIONS = new Set(['subject', 'kind', 'status', 'after', 'limit'])
const VERIFY_OPTIONS = new Set(['scopes', 'anyScopes', 'resource', 'requirement'])
const REQUIREMENT_OPTIONS = new Set(['scopes', 'anyScopes'])
const OPEN_OPTIONS = new Set(['policy', 'rateLimiter'])
const ROTATE_OPTIONS = new Set(['grace', 'actor', 'ip', 'userAgent'])
const WHO_OPTIONS = new Set(['actor', 'ip', 'userAgent'])
const EVENT_OPTIONS = new Set(['key', 'owner', 'since', 'after', 'limit'])

/**
 * Who makes a change and from where, for the audit trail: `actor` (e.g.
 * `'user:42'`; without it the core records this process), `ip`, `userAgent`.
 */
function whoOf (what, o) {
  for (const field of WHO_OPTIONS) {
    if (o[field] !== undefined && o[field] !== null && typeof o[field] !== 'string') {
      throw invalid(`${what}: ${field} must be a string`)
    }
  }
  return { actor: o.actor ?? undefined, ip: o.ip ?? undefined, userAgent: o.userAgent ?? undefined }
}

/** An event page from the addon's JSON text, with `at` as a `Date`. */
function eventsFrom (json) {
  const page = JSON.parse(json)
  for (const e of page.events) e.at = new Date(e.at)
  return page
}

/**
 * Key lifecycle and request verification over a store. Open with
 * `await Gate.open(url, { policy })`; store work runs off the main thread.
 */
class Gate {
  #native
  /** The addon's handle for the per-request calls (`gateVerify`, `gateAuthorize`). */
  #handle
  #requirements = new Map()

  constructor (handle) {
    if (!(handle instanceof native.Gate)) {
      throw invalid('use `await Gate.open(url, { policy })` to make a Gate')
    }
    this.#native = handle
    this.#handle = handle.handle()
    track(handle)
  }

  /**
   * Opens the store at `url` (`memory://`, `sqlite:////absolute/path.db`,
   * `sqlite:///relative.db`, `postgres://…`; default `$GATEPASS_STORE`, else
   * `sqlite:///gatepass.db`). `policy` is a policy document object or TOML
   * text (default: the file `$GATEPASS_POLICY` names, else `./gatepass.toml`,
   * else the policy recorded in the store, else the default); an explicit
   * policy is recorded in the store. `rateLimiter` is where
   * per-key rate limits are counted: `memory://` (this process) or
   * `redis://…` (every process using it); default `$GATEPASS_RATE_LIMITER`,
   * else `memory://`. The same names as Python's `rate_limiter`.
   */
  static async open (url, options) {
    if (url !== undefined && url !== null && typeof url === 'object' && options === undefined) {
      options = url
      url = undefined
    }
    if (url !== undefined && url !== null && typeof url !== 'string') throw invalid('Gate.open: url must be a string')
    const o = checkOptions('Gate.open', options, OPEN_OPTIONS)
    if (o.rateLimiter !== undefined && o.rateLimiter !== null && typeof o.rateLimiter !== 'string') {
      throw invalid('Gate.open: rateLimiter must be a URL string (memory:// or redis://…)')
    }
    try {
      // What is not given, the core reads from $GATEPASS_STORE, $GATEPASS_POLICY, $GATEPASS_RATE_LIMITER.
      const handle = await native.openGate(url ?? null, o.policy ?? null, o.rateLimiter ?? null)
      if (handle.policyMismatch) {
        // Reported, never thrown: during a rolling deploy old and new
        // processes run under different policies on purpose.
        process.emitWarning(handle.policyMismatch, { code: 'GATEPASS_POLICY_MISMATCH' })
      }
      return new Gate(handle)
    } catch (e) {
      throw fromNative(e)
    }
  }

  /**
   * Where the policy in force came from: the `policy` option,
   * `$GATEPASS_POLICY=PATH`, `./gatepass.toml`, the policy recorded in the
   * store, or none (the default single kind). The same text as Python's
   * `gate.policy_source`.
   */
  get policySource () {
    return this.#native.policySource
  }

  /**
   * How the policy in force differed from the one recorded in the store when
   * the gate was opened (also emitted as a `GATEPASS_POLICY_MISMATCH`
   * warning); null when they agreed.
   */
  get policyMismatch () {
    return this.#native.policyMismatch ?? null
  }

  get closed () {
    return this.#native.closed
  }

  async issue (options) {
    const o = checkOptions('issue', options, ISSUE_OPTIONS)
    if (typeof o.name !== 'string') throw invalid('issue: `name` is required')
    const request = {
      name: o.name,
      kind: o.kind ?? undefined,
      scopes: o.scopes ?? undefined,
      subject: o.subject ?? undefined,
      resource: o.resource ?? undefined,
      metadata: o.metadata ?? undefined,
      expiresIn: optional(o.expiresIn, (v) => toDuration('expiresIn', v)),
      expiresAt: optional(o.expiresAt, (v) => toMillis('expiresAt', v)),
      rateLimit: o.rateLimit ?? undefined,
      remaining: o.remaining ?? undefined
    }
    try {
      return new Issued(await this.#native.issue(request, whoOf('issue', o)))
    } catch (e) {
      throw fromNative(e)
    }
  }

  async get (id) {
    checkId('get', id)
    try {
      return keyFrom(await this.#native.get(id))
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** One page of keys, oldest first; pass `page.next` as `after` for the next. */
  async list (options) {
    const o = checkOptions('list', options, LIST_OPTIONS)
    try {
      return pageFrom(await this.#native.list({
        subject: o.subject ?? undefined,
        kind: o.kind ?? undefined,
        status: o.status ?? undefined,
        after: o.after ?? undefined,
        limit: o.limit ?? undefined
      }))
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** Changes settings; `null` clears `expiresAt`, `rateLimit` or `remaining`. */
  async update (id, options) {
    checkId('update', id)
    const o = checkOptions('update', options, UPDATE_OPTIONS)
    const change = {
      name: o.name ?? undefined,
      scopes: o.scopes ?? undefined,
      metadata: o.metadata ?? undefined,
      expiresIn: optional(o.expiresIn, (v) => toDuration('expiresIn', v)),
      expiresAt: optional(o.expiresAt, (v) => toMillis('expiresAt', v)),
      clearExpiry: o.expiresAt === null,
      rateLimit: o.rateLimit ?? undefined,
      clearRateLimit: o.rateLimit === null,
      remaining: o.remaining ?? undefined,
      clearRemaining: o.remaining === null
    }
    try {
      return keyFrom(await this.#native.update(id, change, whoOf('update', o)))
    } catch (e) {
      throw fromNative(e)
    }
  }

  async deactivate (id, options) {
    checkId('deactivate', id)
    const who = whoOf('deactivate', checkOptions('deactivate', options, WHO_OPTIONS))
    try {
      return keyFrom(await this.#native.deactivate(id, who))
    } catch (e) {
      throw fromNative(e)
    }
  }

  async activate (id, options) {
    checkId('activate', id)
    const who = whoOf('activate', checkOptions('activate', options, WHO_OPTIONS))
    try {
      return keyFrom(await this.#native.activate(id, who))
    } catch (e) {
      throw fromNative(e)
    }
  }

  async revoke (id, options) {
    checkId('revoke', id)
    const who = whoOf('revoke', checkOptions('revoke', options, WHO_OPTIONS))
    try {
      return keyFrom(await this.#native.revoke(id, who))
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** A new secret for the same key; the old one keeps working for `grace` (default 0). */
  async rotate (id, options) {
    checkId('rotate', id)
    const o = checkOptions('rotate', options, ROTATE_OPTIONS)
    try {
      return new Issued(await this.#native.rotate(id, optional(o.grace, (v) => toDuration('grace', v)) ?? null, whoOf('rotate', o)))
    } catch (e) {
      throw fromNative(e)
    }
  }

  /**
   * A key's usage history: one bucket per hour or UTC day, oldest first,
   * zeros included (default: the last 30 days by day, or 24 hours by hour,
   * the current day or hour included; the core decides, see docs/core.md).
   */
  async usage (id, options) {
    checkId('usage', id)
    const o = checkOptions('usage', options, USAGE_OPTIONS)
    try {
      const buckets = JSON.parse(await this.#native.usage(id, {
        since: optional(o.since, (v) => toMillis('since', v)),
        until: optional(o.until, (v) => toMillis('until', v)),
        step: o.step ?? undefined
      }))
      return buckets.map((b) => ({ start: new Date(b.start), valid: b.valid, refused: b.refused }))
    } catch (e) {
      throw fromNative(e)
    }
  }

  async delete (id, options) {
    checkId('delete', id)
    const who = whoOf('delete', checkOptions('delete', options, WHO_OPTIONS))
    try {
      await this.#native.delete(id, who)
    } catch (e) {
      throw fromNative(e)
    }
  }

  /**
   * One page of the audit trail, newest first, filtered by key id, owner
   * (the key's subject) and time; pass `page.next` as `after` for older ones.
   */
  async events (options) {
    const o = checkOptions('events', options, EVENT_OPTIONS)
    const request = {
      key: o.key ?? undefined,
      owner: o.owner ?? undefined,
      since: optional(o.since, (v) => toMillis('since', v)),
      after: o.after ?? undefined,
      limit: o.limit ?? undefined
    }
    try {
      return eventsFrom(await this.#native.events(request))
    } catch (e) {
      throw fromNative(e)
    }
  }

  /**
   * A route's requirement, parsed and checked against the policy's
   * catalogue: build it once, when the route is declared.
   */
  requirement (options) {
    const o = checkOptions('requirement', options, REQUIREMENT_OPTIONS)
    try {
      return new Requirement(MADE_HERE, this.#native.requirement(o.scopes ?? null, o.anyScopes ?? null))
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** Checks a requirement from `parseRequirement` against the catalogue. */
  checkRequirement (requirement) {
    try {
      this.#native.checkRequirement(requirementHandle(requirement))
    } catch (e) {
      throw fromNative(e)
    }
  }

  #requirementFor (o) {
    if (o.requirement !== undefined && o.requirement !== null) return o.requirement
    const key = requirementKey(o.scopes, o.anyScopes)
    let r = key === null ? undefined : this.#requirements.get(key)
    if (r === undefined) {
      r = this.requirement({ scopes: o.scopes, anyScopes: o.anyScopes })
      if (key !== null) {
        if (this.#requirements.size >= MAX_CACHED_REQUIREMENTS) this.#requirements.clear()
        this.#requirements.set(key, r)
      }
    }
    return r
  }

  /**
   * Verifies an `Authorization` header value (or a bare token) for a route.
   * Resolves to a `Verification` for every request outcome; rejects only
   * for programmer errors and store failures.
   */
  async verify (credential, options) {
    const o = checkOptions('verify', options, VERIFY_OPTIONS)
    return verifyNow(this, credential, this.#requirementFor(o), o.resource)
  }

  static {
    verifyNow = (gate, credential, requirement, resource) => {
      checkCredential('verify', credential)
      const required = requirementHandle(requirement)
      let answered
      try {
        answered = native.gateVerify(gate.#handle, credential ?? null, required, resource ?? null)
      } catch (e) {
        throw fromNative(e)
      }
      // A number at once when the addon answered from memory (a cached
      // key), else a Promise of one from the thread pool.
      if (typeof answered === 'number') return verificationOf(answered)
      return answered.then(verificationOf, (e) => { throw fromNative(e) })
    }
  }

  /** `verify` on the calling thread (the store may be touched: prefer `verify`). */
  verifySync (credential, options) {
    const o = checkOptions('verifySync', options, VERIFY_OPTIONS)
    checkCredential('verifySync', credential)
    const requirement = this.#requirementFor(o)
    try {
      return verificationOf(native.gateVerifySync(this.#handle, credential ?? null, requirementHandle(requirement), o.resource ?? null))
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** Like `verify`, but resolves to the key and rejects with an `AuthError`. */
  async authenticate (credential, options) {
    const v = await this.verify(credential, options)
    if (!v.ok) throw AuthError.from(v)
    return v.key
  }

  /**
   * Checks a verification from `verify` against a further requirement
   * (`{ scopes, anyScopes }` or `{ requirement }`) without counting usage
   * or the rate limit again. Returns `verification` itself when it failed
   * already or the requirement holds, else an `insufficient_scope` one.
   */
  authorize (verification, options) {
    const o = checkOptions('authorize', options, VERIFY_OPTIONS)
    return authorizeNow(this, verification, this.#requirementFor(o))
  }

  static {
    authorizeNow = (gate, verification, requirement) => {
      const entry = entryOf(verification)
      const required = requirementHandle(requirement)
      // A shared verification keeps the core's answer per requirement (the
      // entry of the answer, or `null`: unchanged), for one gate (the answer
      // depends on its policy): the first that asks.
      const memo = entry.shared && (entry.gate ??= gate.#handle) === gate.#handle ? entry.authorized : null
      let changed = memo?.get(required)
      if (changed === undefined) {
        let number
        try {
          number = native.gateAuthorize(gate.#handle, entry.handle, required)
        } catch (e) {
          throw fromNative(e)
        }
        changed = number === null ? null : entryFor(number)
        memo?.set(required, changed)
      }
      return changed === null ? verification : new Verification(changed)
    }
  }

  /**
   * Answers one request to the management API as data: `{ method, path
   * (relative to the mount point, no leading '/'), query, headers ([name,
   * value] pairs), selfOrigin, body (Buffer), principal }` resolves to
   * `{ status, headers, body }`. `manageRouter` (gatepass/manage) builds the
   * request from Express's.
   */
  async manage (request) {
    try {
      // napi reads a missing object field as None but refuses null.
      if (request !== null && typeof request === 'object' && request.principal === null) {
        request = { ...request, principal: undefined }
      }
      return await this.#native.manage(request)
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** Writes usage counted in this process to the store. */
  async flush () {
    try {
      await this.#native.flush()
    } catch (e) {
      throw fromNative(e)
    }
  }

  flushSync () {
    try {
      this.#native.flushSync()
    } catch (e) {
      throw fromNative(e)
    }
  }

  /** Flushes usage and releases the store; later calls reject with code `closed`. */
  async close () {
    try {
      await this.#native.close()
    } catch (e) {
      throw fromNative(e)
    }
  }

  [inspect.custom] () {
    return `Gate { closed: ${this.closed} }`
  }
}

// ----- webhooks ---------------------------------------------------------------

const VERIFIER_OPTIONS = new Set(['secrets', 'secret', 'tolerance', 'allowSha1', 'replayGuard', 'now', 'header'])
const SIGNER_OPTIONS = new Set(['header'])
const SIGN_OPTIONS = new Set(['id', 'timestamp', 'url'])
const DEFAULT_REPLAY_CAPACITY = 100000

/** The raw body as a Buffer; anything else is a programmer error, said plainly. */
function rawBody (body) {
  if (Buffer.isBuffer(body)) return body
  if (typeof body === 'string') return Buffer.from(body, 'utf8')
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  if (body instanceof ArrayBuffer) return Buffer.from(body)
  const got = body === null ? 'null' : body === undefined ? 'undefined' : typeof body === 'object' ? 'an already-parsed object' : typeof body
  throw new ConfigError(
    `webhook verification needs the raw body bytes (a Buffer or string), got ${got}. ` +
    'Signatures are computed over the exact bytes sent; re-serialised JSON does not match. ' +
    "In Express, use express.raw({ type: '*/*' }) on the webhook route instead of express.json().",
    'config_error'
  )
}

function headerObject (headers) {
  if (headers === null || typeof headers !== 'object') throw invalid('webhook headers must be an object such as req.headers')
  const proto = Object.getPrototypeOf(headers)
  if (proto === Object.prototype || proto === null) return headers // req.headers, a literal
  if (typeof headers.entries === 'function' && !Array.isArray(headers)) {
    // A Map or a fetch Headers.
    return Object.fromEntries(headers.entries())
  }
  return headers
}

/** A header value the addon takes: a string or an array of strings. */
function headerValue (value) {
  if (typeof value === 'string') return value
  if (Array.isArray(value)) return value.filter((v) => typeof v === 'string')
  return undefined // absent, or not text (a number set by hand): no scheme reads it
}

function joinValues (a, b) {
  return a === undefined ? b : [].concat(a, b)
}

/**
 * The values of the headers a scheme reads (`names`, lower-case), in that
 * order. Only these cross into the addon, not every request header. Node's
 * `req.headers` has lower-case names, so direct reads find them; names in
 * another case (hand-made objects) are matched case-insensitively.
 */
function headerValues (headers, names, lengths) {
  const values = new Array(names.length)
  let missing = false
  for (let i = 0; i < names.length; i++) {
    const value = headerValue(headers[names[i]])
    if (value === undefined) missing = true
    else values[i] = value
  }
  if (missing) {
    // Most names cannot match by length alone: lower-case only the others.
    for (const name of Object.keys(headers)) {
      if (!lengths.has(name.length) || names.includes(name)) continue
      const i = names.indexOf(name.toLowerCase())
      const value = i < 0 ? undefined : headerValue(headers[name])
      if (value !== undefined) values[i] = joinValues(values[i], value)
    }
  }
  return values
}

/**
 * The result object from the addon's encoding of a verified message:
 * `null` (no id, no timestamp), `"<ts>"`, `":<id>"` or `"<ts>:<id>"`, the
 * timestamp in Unix seconds (digits only, so the first `:` separates).
 */
function verifiedFrom (scheme, encoded) {
  if (encoded === null) return { scheme, id: null, timestamp: null }
  const colon = encoded.indexOf(':')
  const ts = colon < 0 ? encoded : encoded.slice(0, colon)
  return {
    scheme,
    id: colon < 0 ? null : encoded.slice(colon + 1),
    timestamp: ts === '' ? null : new Date(Number(ts) * 1000)
  }
}

/** Verifies incoming webhooks of one scheme against one or more secrets. */
class WebhookVerifier {
  #native
  #scheme
  #signsUrl
  #headerNames
  #headerLengths

  /**
   * `scheme`: standard | stripe | github | slack | shopify | twilio | token |
   * meta | line | discord | intercom | chatwoot.
   * `options.secrets` (or `secret`; for `discord` the hex public key, for
   * `standard` `whsec_…` or `whpk_…` keys); `header` (`token` only: the
   * header carrying the token, compared whole, e.g. Telegram's
   * `X-Telegram-Bot-Api-Secret-Token`); `tolerance` ("5m" or ms; `null` turns the
   * window off; default 5 minutes); `allowSha1` (GitHub legacy header);
   * `replayGuard` (refuse a second delivery of a message: `true` or how many
   * ids to remember, in this process; or a URL, `memory://` or `redis://…`,
   * the latter shared by every process using the server); `now` (a Date or
   * Unix ms: a fixed clock, for tests and replaying recorded requests).
   */
  constructor (scheme, options) {
    if (typeof scheme !== 'string') throw invalid('WebhookVerifier: scheme must be a string')
    const o = checkOptions('WebhookVerifier', options, VERIFIER_OPTIONS)
    let secrets = o.secrets ?? (o.secret === undefined ? undefined : [o.secret])
    if (typeof secrets === 'string') secrets = [secrets]
    if (!Array.isArray(secrets) || secrets.some((s) => typeof s !== 'string')) {
      throw invalid('WebhookVerifier: `secrets` must be an array of strings')
    }
    const replay = o.replayGuard
    if (replay !== undefined && replay !== null && typeof replay !== 'boolean' && typeof replay !== 'number' && typeof replay !== 'string') {
      throw invalid('WebhookVerifier: replayGuard must be true, a capacity, or a URL (memory:// or redis://…)')
    }
    if (o.header !== undefined && o.header !== null && typeof o.header !== 'string') {
      throw invalid('WebhookVerifier: header must be a header name (string)')
    }
    try {
      this.#native = new native.WebhookVerifier(scheme, {
        secrets,
        tolerance: optional(o.tolerance, (v) => toDuration('tolerance', v)),
        noTolerance: o.tolerance === null,
        allowSha1: o.allowSha1 === true,
        replayGuard: replay === true ? DEFAULT_REPLAY_CAPACITY : typeof replay === 'number' ? replay : undefined,
        // `true`: the guard $GATEPASS_REPLAY_GUARD names (read by the core), else memory.
        replayGuardUrl: typeof replay === 'string' ? replay : replay === true ? native.replayGuardUrl() ?? undefined : undefined,
        now: optional(o.now, (v) => toMillis('now', v)),
        header: o.header ?? undefined
      })
    } catch (e) {
      throw fromNative(e)
    }
    this.#scheme = this.#native.scheme
    this.#signsUrl = this.#native.signsUrl
    this.#headerNames = this.#native.headerNames
    this.#headerLengths = new Set(this.#headerNames.map((n) => n.length))
  }

  get scheme () {
    return this.#scheme
  }

  /**
   * Whether the scheme signs the request URL (`twilio`): `verify` then needs
   * `{ url }`, the public URL the sender called. The core decides.
   */
  get signsUrl () {
    return this.#signsUrl
  }

  /**
   * Verifies the raw body against the request headers; `twilio` also needs
   * the full request URL (`verify(body, headers, { url })`). Returns
   * `{ scheme, id, timestamp }`; throws a `WebhookError` with a stable `code`.
   */
  verify (body, headers, options) {
    const url = typeof options === 'string' ? options : options?.url
    const bytes = rawBody(body)
    const v = headerValues(headerObject(headers), this.#headerNames, this.#headerLengths)
    let verified
    try {
      verified = this.#native.verify(bytes, url ?? null, v[0], v[1], v[2], v[3], v[4], v[5])
    } catch (e) {
      throw fromNative(e, this.#scheme)
    }
    return verifiedFrom(this.#scheme, verified)
  }

  [inspect.custom] () {
    return `WebhookVerifier { scheme: '${this.scheme}' }`
  }
}

/**
 * Signs outgoing webhooks with one secret (the signing key: `whsk_…` for
 * Standard Webhooks' Ed25519 form, the hex seed for `discord`). Options:
 * `header` (`token` only: send the bare token in that header).
 */
class WebhookSigner {
  #native

  constructor (scheme, secret, options) {
    if (typeof scheme !== 'string') throw invalid('WebhookSigner: scheme must be a string')
    if (typeof secret !== 'string') throw invalid('WebhookSigner: secret must be a string')
    const o = checkOptions('WebhookSigner', options, SIGNER_OPTIONS)
    if (o.header !== undefined && o.header !== null && typeof o.header !== 'string') {
      throw invalid('WebhookSigner: header must be a header name (string)')
    }
    try {
      this.#native = new native.WebhookSigner(scheme, secret, o.header ?? undefined)
    } catch (e) {
      throw fromNative(e)
    }
  }

  get scheme () {
    return this.#native.scheme
  }

  /**
   * The headers to send with `body`. Options: `id`, `timestamp` (a Date or
   * Unix seconds; default now), `url` (`twilio`).
   */
  sign (body, options) {
    const o = checkOptions('sign', options, SIGN_OPTIONS)
    let timestamp = o.timestamp ?? undefined
    if (timestamp instanceof Date) timestamp = Math.floor(timestamp.getTime() / 1000)
    else if (timestamp !== undefined && !Number.isSafeInteger(timestamp)) throw invalid('sign: timestamp must be a Date or integer Unix seconds')
    try {
      return this.#native.sign(rawBody(body), { id: o.id ?? undefined, timestamp, url: o.url ?? undefined })
    } catch (e) {
      throw fromNative(e)
    }
  }

  [inspect.custom] () {
    return `WebhookSigner { scheme: '${this.scheme}' }`
  }
}

/** A new random secret in the scheme's usual shape (`whsec_…` for standard). */
function generateSecret (scheme) {
  if (typeof scheme !== 'string') throw invalid('generateSecret: scheme must be a string')
  try {
    return native.generateSecret(scheme)
  } catch (e) {
    throw fromNative(e)
  }
}

/**
 * A new Ed25519 key pair `{ signingKey, verifyingKey }`: `whsk_…`/`whpk_…`
 * for `standard`, hex for `discord`.
 */
function generateKeypair (scheme) {
  if (typeof scheme !== 'string') throw invalid('generateKeypair: scheme must be a string')
  try {
    const [signingKey, verifyingKey] = native.generateKeypair(scheme)
    return { signingKey, verifyingKey }
  } catch (e) {
    throw fromNative(e)
  }
}

/** The verifying key of a signing key (`whpk_…` for `whsk_…`; hex for `discord`). */
function publicKey (scheme, signingKey) {
  if (typeof scheme !== 'string' || typeof signingKey !== 'string') throw invalid('publicKey: scheme and signingKey must be strings')
  try {
    return native.publicKey(scheme, signingKey)
  } catch (e) {
    throw fromNative(e)
  }
}

/**
 * Meta's `GET` subscription handshake: the `hub.challenge` to answer when
 * `hub.mode` is `subscribe` and `hub.verify_token` is one of `verifyTokens`
 * (compared in constant time); otherwise throws a `WebhookError`. `query`
 * is the raw query string as received (without `?`).
 */
function metaChallenge (query, verifyTokens) {
  if (typeof query !== 'string') throw invalid('metaChallenge: query must be a string')
  const tokens = typeof verifyTokens === 'string' ? [verifyTokens] : verifyTokens
  if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== 'string')) {
    throw invalid('metaChallenge: verifyTokens must be a string or an array of strings')
  }
  try {
    return native.metaChallenge(query, tokens)
  } catch (e) {
    throw fromNative(e)
  }
}

/** Every webhook scheme name. */
const webhookSchemes = Object.freeze(native.webhookSchemes())

module.exports = {
  Gate,
  Issued,
  Verification,
  WebhookVerifier,
  WebhookSigner,
  generateSecret,
  generateKeypair,
  publicKey,
  metaChallenge,
  Requirement,
  parseRequirement,
  webhookSchemes,
  DEFAULT_STORE_URL,
  manageRouter: require('./manage.js').manageRouter,
  ...errors
}
delete module.exports.fromNative
// For `gatepass/express` only; not public API.
Object.defineProperty(module.exports, 'internal', { value: Object.freeze({ verifyNow, authorizeNow }) })
