// Type declarations for `gatepass` (hand-written; checked with `tsc --noEmit`
// in tests/node/types). The addon's own generated declarations are in
// native.d.ts after a build; this file is the public contract.

/// <reference types="node" />

/** A duration: text with a unit such as `"300s"`, `"90d"`, `"1h 30m"` (a bare number is refused). */
export type Duration = string

/** `scopes`: an array means all of them; a string is an expression (`"bots:read and (channels:write or admin)"`). */
export type Scopes = string | readonly string[]

export type KeyStatus = 'active' | 'inactive' | 'revoked'

export type OutcomeCode =
  | 'valid'
  | 'missing_credentials'
  | 'invalid_request'
  | 'malformed_token'
  | 'unknown_key'
  | 'inactive'
  | 'revoked'
  | 'expired'
  | 'forbidden_resource'
  | 'insufficient_scope'
  | 'rate_limited'
  | 'usage_exceeded'

export type WebhookScheme =
  | 'standard' | 'stripe' | 'github' | 'slack' | 'shopify' | 'twilio' | 'token'
  | 'meta' | 'line' | 'discord' | 'intercom' | 'chatwoot'

export type WebhookErrorCode =
  | 'missing_header'
  | 'invalid_header'
  | 'timestamp_too_old'
  | 'timestamp_too_new'
  | 'invalid_signature'
  | 'replayed'
  | 'replay_guard_failed'

/** Codes of errors thrown by lifecycle calls and configuration. */
export type ErrorCode =
  | 'not_found'
  | 'invalid_state'
  | 'invalid_argument'
  | 'unknown_kind'
  | 'lifetime_exceeded'
  | 'invalid_scope'
  | 'invalid_scope_expression'
  | 'unknown_scope'
  | 'scope_not_allowed'
  | 'config_error'
  | 'store_unavailable'
  | 'store_corrupt'
  | 'closed'
  | 'internal_error'

/** One key. Never carries its secret. */
export interface Key {
  /** Public id, `key_…`: safe for URLs and logs. */
  id: string
  name: string
  kind: string
  /** Prefix and first characters of the token, e.g. `gp_aB3x`. */
  start: string
  scopes: string[]
  /** Owner: an agent, user or workspace id. */
  subject: string | null
  /** Optional binding to one resource, e.g. `channel:ch_123`. */
  resource: string | null
  metadata: Record<string, unknown>
  status: KeyStatus
  createdAt: Date
  updatedAt: Date
  expiresAt: Date | null
  revokedAt: Date | null
  lastUsedAt: Date | null
  usageCount: number
  /** e.g. `1000/hour`; `null` falls back to the kind's default. */
  rateLimit: string | null
  /** Remaining credits; `null` means unlimited. */
  remaining: number | null
  /** The limit that applies: `rateLimit`, else the kind's default in the gate's policy; `null` when neither sets one. */
  effectiveRateLimit: string | null
}

/** A newly issued or rotated key. `token` is shown once and hidden from inspect/JSON. */
export declare class Issued {
  private constructor ()
  readonly token: string
  readonly key: Key
}

export interface KeyPage {
  keys: Key[]
  /** Pass back as `after` for the next page; `null` on the last page. */
  next: string | null
}

/** An RFC 9457 problem details body (`application/problem+json`). */
export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code: string
  /** Wire name shared with the Python package. */
  missing_scopes?: string[]
}

/**
 * The outcome of `gate.verify`. `key`, `missingScopes` and `problem` are
 * read from the addon on first access; `toJSON()` gives all of it.
 */
export declare class Verification {
  private constructor ()
  readonly ok: boolean
  readonly code: OutcomeCode
  /** HTTP status to answer with (200 when valid). */
  readonly status: number
  /** `WWW-Authenticate`, `Retry-After`, `RateLimit-Policy`, `RateLimit`. */
  readonly headers: Record<string, string>
  /** The key, once it was found (also on most failures after lookup). */
  readonly key: Key | null
  readonly missingScopes: string[]
  /** The problem body; `null` when valid. */
  readonly problem: Problem | null
  toJSON (): {
    ok: boolean
    code: OutcomeCode
    status: number
    headers: Record<string, string>
    key: Key | null
    missingScopes: string[]
    problem: Problem | null
  }
}

/**
 * A parsed route requirement (opaque), shared by every request of a route:
 * made by `gate.requirement()` or `parseRequirement()`, not by `new`.
 */
export declare class Requirement {
  private constructor ()
  /** The requirement as an expression, e.g. `bots:read and channels:write`. */
  toString (): string
  /** Whether the requirement asks for nothing. */
  readonly isEmpty: boolean
}

/** A policy document (snake_case, the same document as TOML or a Python dict). */
export interface PolicyDocument {
  realm?: string
  schemes?: string[]
  scopes?: string[]
  implications?: Record<string, string[]>
  kinds?: Record<string, {
    prefix: string
    scopes?: string[]
    default_lifetime?: string
    max_lifetime?: string
    rate_limit?: string
    description?: string
  }>
  default_kind?: string
  /** `false` answers unknown, inactive, revoked and expired keys alike, as `invalid_token`. */
  disclose_key_state?: boolean
}

export interface OpenOptions {
  /** A policy document, or its TOML text. */
  policy?: PolicyDocument | string
  /**
   * Where per-key rate limits are counted: `memory://` (this process, the
   * default) or `redis://…` (shared by every process using that server).
   */
  rateLimiter?: string
}

/**
 * Who makes a change, and from where, for the audit trail. Without `actor`
 * the event names this process (`process:<pid> (<OS user>)`).
 */
export interface ActorOptions {
  /** The host's word for who acted, e.g. `user:42`; at most 200 bytes, no control characters. */
  actor?: string
  /** The request's IP address. */
  ip?: string
  /** The request's `User-Agent` (kept to its first 512 bytes). */
  userAgent?: string
}

export type EventAction =
  | 'issued'
  | 'updated'
  | 'regenerated'
  | 'deactivated'
  | 'activated'
  | 'revoked'
  | 'deleted'
  | 'leaked'

/** One change of one key, as the audit trail recorded it. Never holds a secret. */
export interface KeyEvent {
  /** `evt_` and 16 letters or digits. */
  id: string
  at: Date
  keyId: string
  /** The key's subject when the event was written. */
  owner: string | null
  action: EventAction
  actor: string
  /**
   * Field → `{ from, to }` (times as RFC 3339 text); metadata as
   * `{ keys: [names of the entries that changed] }`.
   */
  changes: Record<string, unknown>
  ip: string | null
  userAgent: string | null
}

export interface EventPage {
  /** Newest first. */
  events: KeyEvent[]
  /** Pass as `after` for the next (older) page; `null` on the last. */
  next: string | null
}

export interface EventOptions {
  /** Only this key's events. */
  key?: string
  /** Only events of keys with this subject. */
  owner?: string
  /** Only events at or after this time. */
  since?: Date | number
  after?: string
  /** At most 1000; default 50. */
  limit?: number
}

export interface IssueOptions extends ActorOptions {
  name: string
  kind?: string
  scopes?: readonly string[]
  subject?: string
  resource?: string
  metadata?: Record<string, unknown>
  expiresIn?: Duration
  expiresAt?: Date | number
  /** e.g. `1000/hour`, `10/second`, `500/15m`. */
  rateLimit?: string
  remaining?: number
}

export interface UpdateOptions extends ActorOptions {
  name?: string
  scopes?: readonly string[]
  metadata?: Record<string, unknown>
  expiresIn?: Duration
  /** `null` removes the expiry (subject to the kind's maximum). */
  expiresAt?: Date | number | null
  rateLimit?: string | null
  remaining?: number | null
}

export interface ListOptions {
  subject?: string
  kind?: string
  status?: KeyStatus
  after?: string
  limit?: number
}

export interface RequirementOptions {
  scopes?: Scopes
  anyScopes?: readonly string[]
}

export interface VerifyOptions extends RequirementOptions {
  /** The resource this request acts on; keys bound to another resource fail. */
  resource?: string
  /** A requirement built once with `gate.requirement()` (instead of scopes). */
  requirement?: Requirement
}

export interface UsageOptions {
  since?: Date | number
  until?: Date | number
  step?: 'hour' | 'day'
}

/** One bucket of a key's usage history, `[start, start + step)` in UTC. */
export interface UsageBucket {
  start: Date
  valid: number
  /** Refusals by outcome code (`revoked`, `expired`, `rate_limited`, …); codes with none are left out. */
  refused: Partial<Record<OutcomeCode, number>>
}

/** Key lifecycle and request verification over a store. */
export declare class Gate {
  private constructor ()
  /**
   * Opens the store at `url` (`memory://`, `sqlite:////absolute/path.db`,
   * `sqlite:///relative.db`; default `$GATEPASS_STORE`, else `sqlite:///gatepass.db`).
   */
  static open (url?: string, options?: OpenOptions): Promise<Gate>
  static open (options: OpenOptions): Promise<Gate>
  readonly closed: boolean
  /**
   * Where the policy in force came from: the `policy` option,
   * `$GATEPASS_POLICY=PATH`, `./gatepass.toml`, the policy recorded in the
   * store, or none (the default single kind).
   */
  readonly policySource: string
  /** How the policy in force differed from the store's record when opened; null when they agreed. */
  readonly policyMismatch: string | null
  issue (options: IssueOptions): Promise<Issued>
  get (id: string): Promise<Key>
  list (options?: ListOptions): Promise<KeyPage>
  update (id: string, options: UpdateOptions): Promise<Key>
  deactivate (id: string, options?: ActorOptions): Promise<Key>
  activate (id: string, options?: ActorOptions): Promise<Key>
  revoke (id: string, options?: ActorOptions): Promise<Key>
  rotate (id: string, options?: { grace?: Duration } & ActorOptions): Promise<Issued>
  delete (id: string, options?: ActorOptions): Promise<void>
  /** The audit trail, newest first. */
  events (options?: EventOptions): Promise<EventPage>
  /**
   * A key's usage history: one bucket per hour or UTC day from `since`
   * (rounded down to its bucket) until `until`, oldest first, zeros included,
   * at most 2000 buckets. Default: the last 30 days by day, or 24 hours by
   * hour, the current day or hour included (as the management API and
   * `gatepass usage`).
   */
  usage (id: string, options?: UsageOptions): Promise<UsageBucket[]>
  requirement (options?: RequirementOptions): Requirement
  checkRequirement (requirement: Requirement): void
  verify (credential: string | null | undefined, options?: VerifyOptions): Promise<Verification>
  verifySync (credential: string | null | undefined, options?: VerifyOptions): Verification
  /** Resolves to the key; rejects with an `AuthError` subclass. */
  authenticate (credential: string | null | undefined, options?: VerifyOptions): Promise<Key>
  authorize (verification: Verification, options: RequirementOptions | { requirement: Requirement }): Verification
  flush (): Promise<void>
  flushSync (): void
  close (): Promise<void>
  /** One request to the management API, answered by the core (what `manageRouter` calls). */
  manage (request: ManageRequest): Promise<ManageAnswer>
}

/**
 * Who is asking the management API, as the host's login decides: the owner
 * whose keys it manages (a key's `subject`), or `operator: true` for every
 * owner's keys; `actor` is what the audit trail records.
 */
export type ManagePrincipal = {
  actor: string
  /** Kinds this principal may issue (default: every kind of the policy). */
  kinds?: readonly string[]
  /** Scope ceiling (default: what the kind allows). */
  scopes?: readonly string[]
  /** Default: the request's remote address. */
  ip?: string
  /** Default: the request's `User-Agent`. */
  userAgent?: string
} & ({ owner: string, operator?: false } | { owner?: null, operator: true })

export interface ManageRequest {
  method: string
  /** Relative to the mount point, without the leading `/` (`''`, `'keys'`, `'keys/key_…/revoke'`). */
  path: string
  /** The raw query string, without `?`. */
  query: string
  /** `[name, value]` pairs, every request header. */
  headers: Array<[string, string]>
  /** `scheme://host[:port]` as the server sees this request (for the same-origin check). */
  selfOrigin?: string
  body: Buffer
  /** `null`: nobody is logged in (answered 401 `login_required`). */
  principal: ManagePrincipal | null
}

export interface ManageAnswer {
  status: number
  headers: Array<[string, string]>
  body: Buffer
}

export interface ManageRouterOptions<Req extends import('node:http').IncomingMessage = import('node:http').IncomingMessage> {
  gate: Gate
  /** The logged-in user's principal, or `null` (answered 401 `login_required`). */
  principal: (req: Req) => ManagePrincipal | null | undefined | Promise<ManagePrincipal | null | undefined>
}

/** Middleware serving the API Tokens page and its JSON API: `app.use('/tokens', manageRouter({ gate, principal }))`. */
export declare function manageRouter<Req extends import('node:http').IncomingMessage = import('node:http').IncomingMessage> (
  options: ManageRouterOptions<Req>
): (req: Req, res: import('node:http').ServerResponse, next: (err?: unknown) => void) => Promise<void>

export interface VerifierOptions {
  secrets?: readonly string[]
  secret?: string
  /** Timestamp window either way (default 5 minutes); `null` turns it off. */
  tolerance?: Duration | null
  /** Accept GitHub's legacy `X-Hub-Signature: sha1=…`. */
  allowSha1?: boolean
  /**
   * Refuse repeated message ids within the window: `true` or how many ids to
   * remember (this process), or a URL: `memory://` or `redis://…` (shared by
   * every process using that server).
   */
  replayGuard?: boolean | number | string
  /** A fixed clock (Date or Unix ms), for tests and replaying recorded requests. */
  now?: Date | number
  /** `token` only: the header carrying the token, compared whole (Telegram: `X-Telegram-Bot-Api-Secret-Token`). */
  header?: string
}

export type WebhookBody = Buffer | Uint8Array | ArrayBuffer | string

export type WebhookHeaders =
  | Record<string, string | readonly string[] | undefined>
  | Map<string, string>
  | { entries(): IterableIterator<[string, string]> }

export interface VerifiedWebhook {
  scheme: WebhookScheme
  /** Message id when the scheme carries one. */
  id: string | null
  /** The signed timestamp (`standard`, `stripe`, `slack`). */
  timestamp: Date | null
}

export declare class WebhookVerifier {
  constructor (scheme: WebhookScheme, options: VerifierOptions)
  readonly scheme: WebhookScheme
  /** Whether the scheme signs the request URL (`twilio`): `verify` then needs `{ url }`. */
  readonly signsUrl: boolean
  /** Throws a `WebhookError`; `twilio` needs `{ url }`. */
  verify (body: WebhookBody, headers: WebhookHeaders, options?: { url?: string } | string): VerifiedWebhook
}

export interface SignOptions {
  id?: string
  /** A Date or Unix seconds; default now. */
  timestamp?: Date | number
  /** The full request URL (`twilio` only). */
  url?: string
}

export interface SignerOptions {
  /** `token` only: send the bare token in this header (Telegram: `X-Telegram-Bot-Api-Secret-Token`). */
  header?: string
}

export declare class WebhookSigner {
  constructor (scheme: WebhookScheme, secret: string, options?: SignerOptions)
  readonly scheme: WebhookScheme
  sign (body: WebhookBody, options?: SignOptions): Record<string, string>
}

export declare function generateSecret (scheme: WebhookScheme): string
/** A new Ed25519 key pair: `whsk_…`/`whpk_…` for `standard`, hex for `discord`. */
export declare function generateKeypair (scheme: 'standard' | 'discord'): { signingKey: string, verifyingKey: string }
/** The verifying key of a signing key. */
export declare function publicKey (scheme: 'standard' | 'discord', signingKey: string): string
/** Meta's GET subscription handshake: the challenge to answer; throws a `WebhookError` otherwise. */
export declare function metaChallenge (query: string, verifyTokens: string | readonly string[]): string
export declare function parseRequirement (options?: RequirementOptions): Requirement
export declare const webhookSchemes: readonly WebhookScheme[]
export declare const DEFAULT_STORE_URL: string
export declare const PROBLEM_CONTENT_TYPE: 'application/problem+json'

/**
 * Base class of every gatepass error. `status`, `headers` and `problem` are
 * the HTTP answer the core renders for the code (a 5xx has a generic body).
 */
export declare class GatepassError extends Error {
  constructor (message: string, code: string, options?: ErrorOptions & { webhookScheme?: WebhookScheme })
  code: ErrorCode | WebhookErrorCode | OutcomeCode
  readonly status: number
  readonly statusCode: number
  readonly headers: Record<string, string>
  readonly problem: Problem
  expose: boolean | undefined
  toJSON (): Problem
}
/** `config_error`: a policy, store URL, secret or option was wrong (500). */
export declare class ConfigError extends GatepassError {
  code: 'config_error'
}
/** 400: a lifecycle call got an argument the core refuses. */
export declare class InvalidArgument extends GatepassError {}
/** 404 `not_found`: no key with that id. */
export declare class NotFound extends GatepassError {}
/** 409 `invalid_state`: the key's status does not allow the operation. */
export declare class InvalidState extends GatepassError {}
export declare class AuthError extends GatepassError {
  constructor (verification: Verification)
  code: Exclude<OutcomeCode, 'valid'>
  verification: Verification
  key: Key | null
  missingScopes: string[]
  static from (verification: Verification): AuthError
}
/** 400 `invalid_request`: a malformed `Authorization` header or two credentials. */
export declare class BadRequest extends AuthError {}
export declare class Unauthorized extends AuthError {}
export declare class Forbidden extends AuthError {}
export declare class RateLimited extends AuthError {}
/** `store_unavailable` / `store_corrupt`: HTTP 503 with `Retry-After` and a generic body. */
export declare class StoreError extends GatepassError {
  code: 'store_unavailable' | 'store_corrupt'
}
/** 400 for a malformed delivery, 401 (with a challenge) for one that does not prove its origin, 409 for a replay, 503 when the replay guard failed. */
export declare class WebhookError extends GatepassError {
  code: WebhookErrorCode
}
/** Every code the core reports, and the class it is thrown as (from the core's table). */
export declare const CLASS_BY_CODE: Readonly<Record<string, typeof GatepassError>>
