'use strict'
// Express middleware (4 and 5): authenticate requests with a Gate, require
// scopes per route, verify webhooks, and answer failures with RFC 9457
// problem details. Failures go to `next(err)`; the error carries `status`,
// `headers` and `problem`, so Express's default handler answers with the
// right status and headers, and `problemDetails()` (or your own handler)
// with the JSON body.

const { IncomingMessage } = require('node:http')
const gatepass = require('./index.js')

const { Gate, Verification, WebhookVerifier, AuthError, ConfigError, WebhookError, StoreError, PROBLEM_CONTENT_TYPE, parseRequirement, metaChallenge } = gatepass
const { verifyNow, authorizeNow } = gatepass.internal

function invalid (message) {
  const e = new TypeError(message)
  e.code = 'invalid_argument'
  return e
}

// ----- req.gatepass ----------------------------------------------------------
//
// Node's http module gives every request its own V8 hidden class, so adding
// an own property to `req` builds a new one (a map and a copied descriptor
// array) on every request and makes each later property read on `req` miss
// V8's caches again. In the Express benchmark that cost about 1.5 points of
// throughput (docs/benchmarks.md). So an Express request's context is kept in
// `res.locals` (Express's per-request store, a dictionary object where adding
// a key changes no hidden class) under a symbol, and `req.gatepass` is an
// accessor on Express's request prototype (`express.request`, shared by all
// apps of that Express copy, where Express defines its own `req.ip`,
// `req.protocol`, …), installed on the first request through `authenticate`.
// Anything else (a request without Express, a test's plain objects) gets an
// own property, as does a value a user assigns to `req.gatepass`.

/** Shared by every copy of this module, so contexts set by one are read by all. */
const CONTEXT = Symbol.for('gatepass.context')

function contextOf () {
  const res = this.res
  const locals = res == null ? undefined : res.locals
  return locals == null ? undefined : locals[CONTEXT]
}

/** `req.gatepass = value` on a request: an own property, as it would have been. */
function setOwnContext (value) {
  Object.defineProperty(this, 'gatepass', { value, writable: true, enumerable: true, configurable: true })
}

/**
 * Defines the `req.gatepass` accessor on the outermost prototype of `req`
 * below Node's `IncomingMessage.prototype` (for Express, `express.request`).
 * Node's own prototype is never changed: a request without such a prototype
 * gets no accessor.
 */
function defineContextAccessor (req) {
  let outermost = null
  for (let p = Object.getPrototypeOf(req); p !== null; p = Object.getPrototypeOf(p)) {
    if (p === IncomingMessage.prototype) {
      if (outermost !== null && !Object.hasOwn(outermost, 'gatepass')) {
        Object.defineProperty(outermost, 'gatepass', { configurable: true, get: contextOf, set: setOwnContext })
      }
      return
    }
    outermost = p
  }
}

/** Makes `context` the request's `req.gatepass`. */
function attachContext (req, res, context) {
  const locals = res.locals
  if (locals !== null && typeof locals === 'object') {
    locals[CONTEXT] = context
    // Read back: true once the accessor is there and `req.res` is `res`.
    if (req.gatepass === context) return
    defineContextAccessor(req)
    if (req.gatepass === context) return
    delete locals[CONTEXT]
  }
  req.gatepass = context
}

/**
 * The request's `Authorization` value. Node keeps only the first of several
 * `Authorization` fields in `req.headers`; the core decides what two fields
 * mean (`invalid_request`, as in every framework), so it gets them all,
 * joined with ", " as HTTP joins repeated fields.
 */
function authorizationOf (req) {
  const first = req.headers.authorization
  if (first === undefined) return undefined
  const raw = req.rawHeaders
  if (raw === undefined) return first
  let count = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    if (name.length === 13 && name.toLowerCase() === 'authorization') count++
  }
  if (count < 2) return first
  const values = []
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 13 && raw[i].toLowerCase() === 'authorization') values.push(raw[i + 1])
  }
  return values.join(', ')
}

function setHeaders (res, headers) {
  for (const name in headers) res.setHeader(name, headers[name])
}

/**
 * `req.gatepass`: the verification, the gate, and the key, which is read
 * from the verification (converted from the addon) only when a handler asks.
 */
class GatepassContext {
  constructor (verification, gate) {
    this.verification = verification
    this.gate = gate
  }

  get key () {
    return this.verification.key
  }
}

const AUTHENTICATE_OPTIONS = new Set(['scopes', 'anyScopes', 'resource', 'credentials', 'optional'])

/**
 * Verifies the request's `Authorization` header and sets `req.gatepass` to
 * `{ key, verification, gate }`. Options: `scopes` (array: all of; string:
 * an expression), `anyScopes` (array), `resource` (string or `req => string`,
 * for keys bound to one resource), `credentials` (`req => string`, default
 * the Authorization header), `optional` (requests without credentials pass
 * through without `req.gatepass`).
 *
 * The key's own rate limit is enforced here: every response carries the
 * IETF `RateLimit-Policy`/`RateLimit` headers, and a 429 also `Retry-After`.
 */
function authenticate (gate, options = {}) {
  if (!(gate instanceof Gate)) throw invalid('authenticate(gate, options): gate must come from `await Gate.open(...)`')
  if (options === null || typeof options !== 'object') throw invalid('authenticate: options must be an object')
  for (const name in options) {
    if (!AUTHENTICATE_OPTIONS.has(name)) throw invalid(`authenticate: unknown option ${JSON.stringify(name)}`)
  }
  // Parsed and checked against the policy's catalogue now, so a typo fails at start-up.
  const requirement = gate.requirement({ scopes: options.scopes, anyScopes: options.anyScopes })
  const { resource, credentials, optional = false } = options
  if (resource !== undefined && typeof resource !== 'string' && typeof resource !== 'function') {
    throw invalid('authenticate: resource must be a string or a function of the request')
  }
  if (credentials !== undefined && typeof credentials !== 'function') {
    throw invalid('authenticate: credentials must be a function of the request')
  }
  return function gatepassAuthenticate (req, res, next) {
    let v
    try {
      const credential = credentials ? credentials(req) : authorizationOf(req)
      v = verifyNow(gate, credential, requirement, typeof resource === 'function' ? resource(req) : resource)
    } catch (e) {
      return next(e)
    }
    // Most requests (a cached key) are answered without a Promise.
    if (v instanceof Verification) settle(v, gate, optional, req, res, next)
    else v.then((v) => settle(v, gate, optional, req, res, next), next)
  }
}

/**
 * The end of `authenticate`: headers, then `req.gatepass` or the error.
 * Whatever throws here (headers already sent, a frozen `res.locals`) goes to
 * `next(err)`: on the Promise path nothing else would catch it.
 */
function settle (v, gate, optional, req, res, next) {
  if (!v.ok && optional && v.code === 'missing_credentials') return next()
  let failure
  try {
    setHeaders(res, v.headers)
    if (v.ok) attachContext(req, res, new GatepassContext(v, gate))
    else failure = AuthError.from(v)
  } catch (e) {
    failure = e
  }
  next(failure)
}

function scopeMiddleware (what, requirement) {
  const checked = new WeakSet()
  return function gatepassRequireScopes (req, res, next) {
    const context = req.gatepass
    if (!context || !(context.gate instanceof Gate)) {
      return next(new ConfigError(`${what} needs authenticate(gate) earlier in the route's middleware`, 'config_error'))
    }
    try {
      if (!checked.has(context.gate)) {
        context.gate.checkRequirement(requirement)
        checked.add(context.gate)
      }
      const v = authorizeNow(context.gate, context.verification, requirement)
      if (!v.ok) {
        setHeaders(res, v.headers)
        return next(AuthError.from(v))
      }
      next()
    } catch (e) {
      next(e)
    }
  }
}

function scopeArgs (what, args) {
  const list = args.flat()
  if (list.length === 0 || list.some((s) => typeof s !== 'string')) {
    throw invalid(`${what}: give one or more scope strings`)
  }
  return list
}

/**
 * After `authenticate`: the key must hold every listed scope. A single
 * string is an expression (`requireScopes('bots:read and (channels:write or admin)')`),
 * a single scope being the simplest one.
 */
function requireScopes (...scopes) {
  const list = scopeArgs('requireScopes', scopes)
  const spec = list.length === 1 && typeof scopes[0] === 'string' ? list[0] : list
  return scopeMiddleware('requireScopes()', parseRequirement({ scopes: spec }))
}

/** After `authenticate`: the key must hold at least one of the scopes. */
function requireAnyScope (...scopes) {
  return scopeMiddleware('requireAnyScope()', parseRequirement({ anyScopes: scopeArgs('requireAnyScope', scopes) }))
}

/** After `authenticate`: the key must satisfy an `and`/`or` expression. */
function requireScopeExpression (expression) {
  if (typeof expression !== 'string') throw invalid('requireScopeExpression: give an expression string')
  return scopeMiddleware('requireScopeExpression()', parseRequirement({ scopes: expression }))
}

/**
 * `options.baseUrl` checked once: an absolute http(s) URL without query or
 * fragment, returned without a trailing `/`.
 */
function baseUrlOption (baseUrl) {
  if (baseUrl === undefined) return undefined
  let parsed
  try {
    parsed = typeof baseUrl === 'string' ? new URL(baseUrl) : undefined
  } catch {}
  if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || baseUrl.includes('?') || baseUrl.includes('#')) {
    throw new ConfigError('verifyWebhook: baseUrl must be an absolute http(s) URL without a query, such as \'https://hooks.example.com\'', 'config_error')
  }
  return baseUrl.replace(/\/+$/, '')
}

function hasBody (req) {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')
}

/**
 * Verifies a webhook and sets `req.gatepassWebhook` to `{ scheme, id, timestamp }`.
 * Needs the raw body: mount `express.raw({ type: '*\/*' })` on the route.
 * `twilio` signs the public URL it calls, so it needs `options.baseUrl` (the
 * public `https://host[/prefix]`; `req.originalUrl` is appended) or
 * `options.url` (string or `req => string`). The request's `Host` header is
 * never used: it is the client's to choose.
 */
function verifyWebhook (verifier, options = {}) {
  if (!(verifier instanceof WebhookVerifier)) throw invalid('verifyWebhook(verifier): verifier must be a WebhookVerifier')
  const url = options.url
  if (url !== undefined && typeof url !== 'string' && typeof url !== 'function') {
    throw invalid('verifyWebhook: url must be a string or a function of the request')
  }
  const base = baseUrlOption(options.baseUrl)
  const needsUrl = verifier.signsUrl
  if (needsUrl && url === undefined && base === undefined) {
    throw new ConfigError(
      `verifyWebhook: the ${verifier.scheme} scheme signs the public URL the sender calls; ` +
      'pass { baseUrl: \'https://your.public.host\' } (the request\'s Host header is not trusted)', 'config_error')
  }
  return function gatepassVerifyWebhook (req, res, next) {
    let body = req.body
    // Express 5's parsers leave `undefined` for a request without a body (and
    // without a Content-Type): that is an empty body, answered like any other
    // delivery (e.g. 400 missing_header), as in Python, not a 500.
    if (body === undefined && !hasBody(req)) body = Buffer.alloc(0)
    if (body === undefined) {
      return next(new ConfigError(
        'verifyWebhook() found no request body: mount express.raw({ type: \'*/*\' }) on this route before it ' +
        '(webhook signatures are over the raw bytes)', 'config_error'))
    }
    if (!Buffer.isBuffer(body) && typeof body !== 'string') {
      if (typeof body === 'object' && body !== null && Object.keys(body).length === 0 && !hasBody(req)) {
        // Express 4's parsers leave `{}` for a request without a body.
        body = Buffer.alloc(0)
      } else {
        return next(new ConfigError(
          'verifyWebhook() got req.body already parsed into an object (express.json() or another body parser ran first). ' +
          'Webhook signatures are over the exact bytes sent, so re-serialised JSON cannot be verified: ' +
          'mount express.raw({ type: \'*/*\' }) on the webhook route, before any JSON parser, and JSON.parse(req.body) after verifying.',
          'config_error'))
      }
    }
    try {
      const target = !needsUrl ? undefined : typeof url === 'function' ? url(req) : url ?? publicUrl(base, req)
      req.gatepassWebhook = verifier.verify(body, req.headers, { url: target })
    } catch (e) {
      return next(e)
    }
    next()
  }
}

/** `base` + the request's path and query; a request target that is not a
 * path (absolute-form, `*`) still cannot change the host. */
function publicUrl (base, req) {
  const path = req.originalUrl
  return base + (path.startsWith('/') ? path : `/${path}`)
}

/**
 * Answers Meta's `GET` subscription handshake (WhatsApp, Messenger,
 * Instagram): `hub.challenge` as `text/plain` when `hub.mode` is `subscribe`
 * and `hub.verify_token` is one of `verifyTokens` (compared in constant time
 * in the core); otherwise `next(err)` with the `WebhookError` (answered by
 * `problemDetails()`). The tokens are checked when the route is built.
 */
function metaSubscription (verifyTokens) {
  const tokens = typeof verifyTokens === 'string' ? [verifyTokens] : verifyTokens
  try {
    metaChallenge('', tokens)
  } catch (e) {
    // An empty query lacks the parameters; anything else is a bad token list.
    if (!(e instanceof WebhookError)) throw e
  }
  return function gatepassMetaSubscription (req, res, next) {
    const url = req.originalUrl ?? req.url ?? ''
    const q = url.indexOf('?')
    let challenge
    try {
      challenge = metaChallenge(q < 0 ? '' : url.slice(q + 1), tokens)
    } catch (e) {
      return next(e)
    }
    res.status(200)
    res.setHeader('Content-Type', 'text/plain; charset=utf-8')
    res.end(challenge)
  }
}

/**
 * An error handler that answers a request's gatepass failures (an
 * `AuthError`, a `WebhookError`, a `StoreError`) with the status, headers
 * and `application/problem+json` body (RFC 9457) the core rendered; other
 * errors (a `ConfigError` is a bug in the app) pass on, as in Python.
 */
function problemDetails () {
  return function gatepassProblemDetails (err, req, res, next) {
    if (!(err instanceof AuthError || err instanceof WebhookError || err instanceof StoreError) || res.headersSent) return next(err)
    res.status(err.status)
    setHeaders(res, err.headers)
    res.setHeader('Content-Type', PROBLEM_CONTENT_TYPE)
    res.end(JSON.stringify(err.problem))
  }
}

module.exports = {
  authenticate,
  requireScopes,
  requireAnyScope,
  requireScopeExpression,
  verifyWebhook,
  metaSubscription,
  problemDetails,
  // The API Tokens page and its JSON API (also `require('gatepass').manageRouter`).
  manageRouter: gatepass.manageRouter
}
