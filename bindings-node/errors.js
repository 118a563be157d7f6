'use strict'
// The one place where gatepass errors get their JavaScript class, status and
// problem body. The addon throws plain `Error`s whose `code` is the core's
// stable code; `fromNative` gives them their class. Auth failures are built
// from a `Verification`, whose status, headers and RFC 9457 body the core
// rendered. Messages never contain a token or a secret.

const WEBHOOK_CODES = new Set([
  'missing_header',
  'invalid_header',
  'timestamp_too_old',
  'timestamp_too_new',
  'invalid_signature',
  'replayed',
  'replay_guard_failed'
])

const STORE_CODES = new Set(['store_unavailable', 'store_corrupt'])

const PROBLEM_CONTENT_TYPE = 'application/problem+json'

// Seconds a client should wait after a 503 for a store failure (a restarting
// Postgres, a Redis failover are usually back within seconds).
const STORE_RETRY_AFTER = '1'

const TITLES = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' }

/** Base class of every error gatepass throws; `code` is stable across languages. */
class GatepassError extends Error {
  constructor (message, code, options) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** A policy, store URL, secret or option was wrong: a programmer error. */
class ConfigError extends GatepassError {}

/**
 * A request was not authenticated or not authorized. Carries what an HTTP
 * answer needs: `status`, `headers` (challenges, RateLimit headers) and the
 * RFC 9457 `problem` body.
 */
class AuthError extends GatepassError {
  constructor (verification) {
    const problem = verification.problem
    super(problem ? problem.detail : verification.code, verification.code)
    this.status = verification.status
    this.statusCode = verification.status
    this.headers = { ...verification.headers }
    this.problem = problem
    this.key = verification.key
    this.missingScopes = verification.missingScopes
    // http-errors convention: the message is safe to show to the client.
    this.expose = true
  }

  toJSON () {
    return this.problem
  }

  static from (verification) {
    const Class = AUTH_CLASSES[verification.status] || AuthError
    return new Class(verification)
  }
}

/** 401: no, malformed, unknown, inactive, revoked or expired credentials. */
class Unauthorized extends AuthError {}
/** 403: the key lacks a scope or is bound to another resource. */
class Forbidden extends AuthError {}
/** 429: the key's rate limit or credits are exhausted. */
class RateLimited extends AuthError {}

const AUTH_CLASSES = { 401: Unauthorized, 403: Forbidden, 429: RateLimited }

/**
 * A webhook failed verification. `status` is 400 for every failure of the
 * request itself (a webhook sender reads any 4xx as "rejected"; 401 would
 * require a `WWW-Authenticate` challenge, which webhook schemes do not
 * define), and 503 when the replay guard's store could not answer.
 */
class WebhookError extends GatepassError {
  constructor (message, code, options) {
    super(message, code, options)
    httpFields(this, code === 'replay_guard_failed' ? 503 : 400, message, code)
  }

  toJSON () {
    return this.problem
  }
}

/**
 * The store is unavailable or holds data gatepass cannot read
 * (`store_unavailable`, `store_corrupt`), e.g. `gate.verify` while Postgres
 * restarts. Answered with 503, `Retry-After` and the problem body, like any
 * gatepass HTTP error, so `authenticate()`'s `next(err)` is not a 500.
 */
class StoreError extends GatepassError {
  constructor (message, code, options) {
    super(message, code, options)
    httpFields(this, 503, message, code)
  }

  toJSON () {
    return this.problem
  }
}

// `status`, `statusCode`, `headers`, `expose` and the RFC 9457 `problem` of
// a non-auth error; a 503 (the store failed) tells the client to retry.
function httpFields (err, status, message, code) {
  err.status = status
  err.statusCode = status
  err.headers = status === 503 ? { 'Retry-After': STORE_RETRY_AFTER } : {}
  err.expose = status < 500
  err.problem = { type: 'about:blank', title: TITLES[status], status, detail: message, code }
}

/** The class-bearing twin of an error thrown by the addon. */
function fromNative (err) {
  if (!(err instanceof Error) || err instanceof GatepassError || typeof err.code !== 'string') {
    return err
  }
  let Class = GatepassError
  if (err.code === 'config_error') Class = ConfigError
  else if (WEBHOOK_CODES.has(err.code)) Class = WebhookError
  else if (STORE_CODES.has(err.code)) Class = StoreError
  else if (err.code === 'InvalidArg' || err.code === 'NumberExpected' || err.code === 'StringExpected' || err.code === 'ObjectExpected') {
    // napi's own argument checks: a wrong JS type reached the addon.
    const e = new TypeError(err.message)
    e.code = 'invalid_argument'
    return e
  }
  const e = new Class(err.message, err.code)
  e.stack = `${e.name}: ${err.message}\n${(err.stack || '').split('\n').slice(1).join('\n')}`
  return e
}

module.exports = {
  GatepassError,
  ConfigError,
  AuthError,
  Unauthorized,
  Forbidden,
  RateLimited,
  WebhookError,
  StoreError,
  fromNative,
  PROBLEM_CONTENT_TYPE
}
