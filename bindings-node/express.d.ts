// Type declarations for `gatepass/express`, including the `req.gatepass`
// augmentation of Express's Request (Express 4 and 5 typings alike).

import type { ErrorRequestHandler, Request, RequestHandler } from 'express'
import type { Gate, Key, Requirement, Scopes, Verification, VerifiedWebhook, WebhookVerifier } from './index'

/** What `authenticate` sets on `req.gatepass`. */
export interface GatepassContext {
  key: Key
  verification: Verification
  gate: Gate
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by `authenticate(gate)` once the request's key is verified. */
      gatepass?: GatepassContext
      /** Set by `verifyWebhook(verifier)` once the webhook is verified. */
      gatepassWebhook?: VerifiedWebhook
    }
  }
}

export interface AuthenticateOptions {
  scopes?: Scopes
  anyScopes?: readonly string[]
  /** The resource the request acts on: keys bound to another one fail with 403. */
  resource?: string | ((req: Request) => string | undefined)
  /** Where the credential is; default `req.headers.authorization`. */
  credentials?: (req: Request) => string | undefined
  /** Let requests without credentials through (without `req.gatepass`). */
  optional?: boolean
}

export interface VerifyWebhookOptions {
  /**
   * The public `https://host[/prefix]` the sender calls; `req.originalUrl`
   * is appended to build the URL `twilio` signed. `twilio` needs this or
   * `url`: the request's `Host` header is never trusted.
   */
  baseUrl?: string
  /** The full URL `twilio` signed (instead of `baseUrl`). */
  url?: string | ((req: Request) => string)
}

export declare function authenticate (gate: Gate, options?: AuthenticateOptions): RequestHandler
export declare function requireScopes (...scopes: Array<string | readonly string[]>): RequestHandler
export declare function requireAnyScope (...scopes: Array<string | readonly string[]>): RequestHandler
export declare function requireScopeExpression (expression: string): RequestHandler
export declare function verifyWebhook (verifier: WebhookVerifier, options?: VerifyWebhookOptions): RequestHandler
/** Meta's GET subscription handshake: answers `hub.challenge` when `hub.verify_token` matches. */
export declare function metaSubscription (verifyTokens: string | readonly string[]): RequestHandler
export declare function problemDetails (): ErrorRequestHandler
export type { Requirement }
export { manageRouter } from './index'
export type { ManagePrincipal, ManageRouterOptions } from './index'
