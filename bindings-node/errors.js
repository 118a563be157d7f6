'use strict'
// The error classes of gatepass. The core holds the one table of error codes
// (status, class, title) and renders the HTTP answer of every error (status,
// headers, RFC 9457 body); this file only defines the classes, picks each
// code's class from the core's table, and asks the core for the answer, so
// the classes, statuses and bodies are the same as in the Python package.
// The addon throws plain `Error`s whose `code` is the core's stable code;
// `fromNative` gives them their class. Messages never contain a token or a
// secret; a server-side failure (5xx) is answered with a generic detail while
// its message (for the log) stays on the error.

const native = require('./native.js')

const PROBLEM_CONTENT_TYPE = 'application/problem+json'

/**
 * Base class of every error gatepass throws; `code` is stable across
 * languages. `status`, `headers` and `problem` are the HTTP answer the core
 * renders for the code (computed on first use).
 */
class GatepassError extends Error {
  #http

  constructor (message, code, options) {
    super(message, options)
    this.name = new.target.name
    this.code = code
    this.#http = undefined
    // http-errors convention: a 4xx message is safe to show to the client.
    this.expose = undefined
    Object.defineProperty(this, 'webhookScheme', { value: options?.webhookScheme, enumerable: false, writable: true })
  }

  #rendered () {
    if (this.#http === undefined) {
      const r = native.renderError(String(this.code), this.message, this.webhookScheme ?? null)
      this.#http = { status: r.status, headers: r.headers, problem: JSON.parse(r.problem) }
    }
    return this.#http
  }

  get status () {
    return this.#rendered().status
  }

  get statusCode () {
    return this.status
  }

  get headers () {
    return { ...this.#rendered().headers }
  }

  get problem () {
    return { ...this.#rendered().problem }
  }

  toJSON () {
    return this.problem
  }
}

/** A policy, store URL, secret or option was wrong: a programmer error. */
class ConfigError extends GatepassError {}
/** A lifecycle call got an argument the core refuses (bad scope, duration, kind…). */
class InvalidArgument extends GatepassError {}
/** No key with that id. */
class NotFound extends GatepassError {}
/** The key's status does not allow the operation (e.g. activating a revoked key). */
class InvalidState extends GatepassError {}
/** A webhook failed verification; a 401 carries the scheme's challenge. */
class WebhookError extends GatepassError {}
/**
 * The store is unavailable or holds data gatepass cannot read
 * (`store_unavailable`, `store_corrupt`), e.g. `gate.verify` while Postgres
 * restarts: 503 with `Retry-After` and a generic body.
 */
class StoreError extends GatepassError {}

/**
 * A request was not authenticated or not authorized. Carries what an HTTP
 * answer needs: `status`, `headers` (challenges, RateLimit headers) and the
 * RFC 9457 `problem` body, all from the verification the core rendered.
 */
class AuthError extends GatepassError {
  constructor (verification) {
    const problem = verification.problem
    super(problem ? problem.detail : verification.code, verification.code)
    this.verification = verification
    this.key = verification.key
    this.missingScopes = verification.missingScopes
    this.expose = true
  }

  get status () {
    return this.verification.status
  }

  get headers () {
    return { ...this.verification.headers }
  }

  get problem () {
    return this.verification.problem
  }

  static from (verification) {
    const Class = CLASS_BY_CODE[verification.code]
    return new (Class && Class.prototype instanceof AuthError ? Class : AuthError)(verification)
  }
}

/** 400: the `Authorization` header is malformed or carries two credentials. */
class BadRequest extends AuthError {}
/** 401: no, malformed, unknown, inactive, revoked or expired credentials. */
class Unauthorized extends AuthError {}
/** 403: the key lacks a scope or is bound to another resource. */
class Forbidden extends AuthError {}
/** 429: the key's rate limit or credits are exhausted. */
class RateLimited extends AuthError {}

const CLASSES = {
  GatepassError,
  AuthError,
  BadRequest,
  Unauthorized,
  Forbidden,
  RateLimited,
  WebhookError,
  NotFound,
  InvalidState,
  InvalidArgument,
  StoreError,
  ConfigError
}

// The core names the classes; one it names that is not defined here is a
// packaging bug, reported at load rather than on the first error.
for (const [name, parent] of native.errorClasses()) {
  const Class = CLASSES[name]
  if (!Class || (parent !== '' && !(Class === CLASSES[parent] || Class.prototype instanceof CLASSES[parent]))) {
    throw new Error(`gatepass: the addon's error class ${name} does not match errors.js`)
  }
}

/** Every code the core reports, and the class it is thrown as (from the core's table). */
const CLASS_BY_CODE = Object.freeze(Object.fromEntries(native.errorTable().map((row) => [row.code, CLASSES[row.class]])))

/**
 * The class-bearing twin of an error thrown by the addon; `webhookScheme`
 * is the scheme of the verifier that threw it (a 401's challenge names it).
 */
function fromNative (err, webhookScheme) {
  if (!(err instanceof Error) || err instanceof GatepassError || typeof err.code !== 'string') {
    return err
  }
  if (err.code === 'InvalidArg' || err.code === 'NumberExpected' || err.code === 'StringExpected' || err.code === 'ObjectExpected') {
    // napi's own argument checks: a wrong JS type reached the addon.
    const e = new TypeError(err.message)
    e.code = 'invalid_argument'
    return e
  }
  const Class = CLASS_BY_CODE[err.code] || GatepassError
  const e = new Class(err.message, err.code, { webhookScheme })
  e.expose = e.status < 500
  e.stack = `${e.name}: ${err.message}\n${(err.stack || '').split('\n').slice(1).join('\n')}`
  return e
}

module.exports = {
  ...CLASSES,
  CLASS_BY_CODE,
  fromNative,
  PROBLEM_CONTENT_TYPE
}
