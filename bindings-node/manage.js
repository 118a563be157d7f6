'use strict'
// The API Tokens page and its JSON API as middleware for Express 4 and 5:
// every request under the mount point is cut down to (method, path, query,
// headers, self origin, body), the host's login decides the principal, and
// the core answers on the libuv pool. Nothing here needs Express itself: any
// server that mounts a `(req, res, next)` handler under a prefix and strips
// the prefix from `req.url` (connect-style `app.use('/tokens', handler)`)
// works; others call `gate.manage(request)` directly.

const native = require('./native.js')

/** The largest request body the management API reads. */
const MAX_BODY_BYTES = native.manageMaxBodyBytes()

const PRINCIPAL_KEYS = new Set(['owner', 'operator', 'actor', 'kinds', 'scopes', 'ip', 'userAgent'])

function invalid (message) {
  const e = new TypeError(message)
  e.code = 'invalid_argument'
  return e
}

function stringList (name, value) {
  if (value === undefined || value === null) return undefined
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw invalid(`manageRouter: principal ${name} must be an array of strings`)
  }
  return value
}

/**
 * The client's address as the host's framework knows it: Express's `req.ip`,
 * which follows the app's `trust proxy` setting (behind a proxy, the
 * forwarded address it trusts; otherwise the socket's), as Flask's
 * `remote_addr` follows ProxyFix and Django's `REMOTE_ADDR` the deployment.
 * A plain connect-style server has no `req.ip`: the socket's address.
 */
function clientAddress (req) {
  if (typeof req.ip === 'string' && req.ip !== '') return req.ip
  return req.socket?.remoteAddress ?? undefined
}

/** The principal as the addon takes it; the request's IP and User-Agent unless given. */
function principalOf (who, req) {
  if (typeof who !== 'object') throw invalid('manageRouter: principal() must return { owner, actor } or null')
  for (const key of Object.keys(who)) {
    if (!PRINCIPAL_KEYS.has(key)) throw invalid(`manageRouter: unknown principal field ${JSON.stringify(key)}`)
  }
  const text = (name, v) => {
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'string') throw invalid(`manageRouter: principal ${name} must be a string`)
    return v
  }
  const ua = req.headers['user-agent']
  return {
    owner: text('owner', who.owner),
    operator: who.operator === true,
    actor: text('actor', who.actor) ?? '',
    kinds: stringList('kinds', who.kinds),
    scopes: stringList('scopes', who.scopes),
    ip: text('ip', who.ip) ?? clientAddress(req),
    userAgent: text('userAgent', who.userAgent) ?? (typeof ua === 'string' ? ua : undefined)
  }
}

/**
 * The body, never more than one byte past the bound whatever
 * Content-Length claims (the core refuses an oversized body unread). A body
 * a parser already read (`express.json()`, `express.raw()`) is taken from
 * `req.body`.
 */
function readBody (req) {
  if (req._body === true || req.readableEnded) {
    const b = req.body
    if (Buffer.isBuffer(b)) return Promise.resolve(b.subarray(0, MAX_BODY_BYTES + 1))
    if (typeof b === 'string') return Promise.resolve(Buffer.from(b).subarray(0, MAX_BODY_BYTES + 1))
    // express.json() leaves the parsed value (body-parser 1 also sets
    // `req._body`; 2 only ends the stream).
    if (b !== undefined && b !== null) {
      return Promise.resolve(Buffer.from(JSON.stringify(b)).subarray(0, MAX_BODY_BYTES + 1))
    }
    return Promise.resolve(Buffer.alloc(0))
  }
  return new Promise((resolve, reject) => {
    const chunks = []
    let size = 0
    const finish = () => {
      req.off('data', onData)
      req.off('end', finish)
      req.off('error', onError)
      // What is left of an oversized body is drained, not kept, so the
      // client reads the 413 instead of a reset connection.
      if (!req.readableEnded) req.resume()
      resolve(Buffer.concat(chunks, size).subarray(0, MAX_BODY_BYTES + 1))
    }
    const onData = (chunk) => {
      chunks.push(chunk)
      size += chunk.length
      if (size > MAX_BODY_BYTES) finish()
    }
    const onError = (e) => {
      req.off('data', onData)
      req.off('end', finish)
      reject(e)
    }
    req.on('data', onData)
    req.on('end', finish)
    req.on('error', onError)
  })
}

function decodePath (path) {
  try {
    return decodeURIComponent(path)
  } catch {
    return path // malformed escapes: the core answers not_found
  }
}

/**
 * Middleware serving the API Tokens page and its JSON API under its mount
 * point: `app.use('/tokens', manageRouter({ gate, principal }))`.
 * `principal(req)` (may be async) returns `{ owner, actor }` for the
 * logged-in user (`kinds`, `scopes` optional), `{ operator: true, actor }`
 * for every owner's keys, or `null` when nobody is logged in (401
 * `login_required`). `/tokens` redirects to `/tokens/`.
 */
function manageRouter (options) {
  const { gate, principal } = options ?? {}
  // Duck-typed: index.js re-exports this module, so it cannot require index.js.
  if (gate === null || typeof gate !== 'object' || typeof gate.manage !== 'function') {
    throw invalid('manageRouter: gate must be a gatepass Gate')
  }
  if (typeof principal !== 'function') throw invalid('manageRouter: principal must be a function (req) => ({ owner, actor }) | null')

  return async function gatepassManage (req, res, next) {
    try {
      const url = req.url ?? '/'
      const q = url.indexOf('?')
      const pathname = q < 0 ? url : url.slice(0, q)
      const query = q < 0 ? '' : url.slice(q + 1)
      const original = req.originalUrl ?? url
      const originalPath = original.split('?', 1)[0]
      if (pathname === '/' && !originalPath.endsWith('/')) {
        // The page calls the API with relative URLs, which resolve
        // against `/tokens/`, not `/tokens`.
        res.statusCode = 308
        res.setHeader('Location', originalPath + '/' + (q < 0 ? '' : '?' + query))
        res.end()
        return
      }
      const who = await principal(req)
      // Nobody logged in (null): the core answers 401 login_required
      // without the body being read.
      const loggedIn = who !== null && who !== undefined
      const body = loggedIn ? await readBody(req) : Buffer.alloc(0)
      const host = req.headers.host
      const scheme = typeof req.protocol === 'string' ? req.protocol : (req.socket?.encrypted ? 'https' : 'http')
      const headers = []
      const raw = req.rawHeaders ?? []
      for (let i = 0; i + 1 < raw.length; i += 2) headers.push([raw[i], raw[i + 1]])
      const answer = await gate.manage({
        method: req.method,
        path: decodePath(pathname.slice(1)),
        query,
        headers,
        selfOrigin: host ? `${scheme}://${host}` : undefined,
        body,
        principal: loggedIn ? principalOf(who, req) : null
      })
      res.statusCode = answer.status
      for (const [name, value] of answer.headers) res.setHeader(name, value)
      res.end(answer.body)
    } catch (e) {
      next(e)
    }
  }
}

module.exports = { manageRouter, MAX_BODY_BYTES }
