// Compiled with `tsc --noEmit` by tests/node/types.test.js: the public
// typings must accept what the docs show and reject obvious misuse.
import express from 'express'
import {
  Gate,
  WebhookVerifier,
  WebhookSigner,
  generateSecret,
  generateKeypair,
  publicKey,
  metaChallenge,
  AuthError,
  WebhookError,
  type Key,
  type KeyEvent,
  type EventAction,
  type Verification,
  type OutcomeCode,
  type UsageBucket,
  type ManageAnswer
} from 'gatepass'
import { authenticate, requireScopes, requireAnyScope, requireScopeExpression, verifyWebhook, metaSubscription, problemDetails, manageRouter } from 'gatepass/express'

async function main (): Promise<void> {
  const gate = await Gate.open('sqlite:///gatepass.db', { policy: { scopes: ['bots:read'] } })
  const { token, key } = await gate.issue({ name: 'x', scopes: ['bots:read'], expiresIn: '90d', expiresAt: new Date() })
  const t: string = token
  const id: string = key.id
  const when: Date | null = key.expiresAt
  const v: Verification = await gate.verify(`Bearer ${t}`, { scopes: ['bots:read'] })
  const code: OutcomeCode = v.code
  const headers: Record<string, string> = v.headers
  const k: Key | null = v.key
  await gate.update(id, { expiresAt: null, rateLimit: null })
  await gate.rotate(id, { grace: '1h' })
  await gate.revoke(id, { actor: 'user:42', ip: '203.0.113.9', userAgent: 'Mozilla/5.0' })
  await gate.update(id, { name: 'y', actor: 'user:42' })
  const events = await gate.events({ key: id, since: new Date(), limit: 10 })
  for (const e of events.events) {
    const at: Date = e.at
    const action: EventAction = e.action
    const ip: string | null = e.ip
    console.log(at, action, ip, e.changes)
  }
  const firstEvent: KeyEvent | undefined = events.events[0]
  const older: string | null = events.next
  void [firstEvent, older]
  const page = await gate.list({ subject: 'agent_42', status: 'active' })
  for (const item of page.keys) item.usageCount.toFixed()
  const buckets: UsageBucket[] = await gate.usage(id, { since: new Date(), until: Date.now(), step: 'hour' })
  for (const b of buckets) console.log(b.start.toISOString(), b.valid.toFixed(), b.refused.revoked ?? 0)
  await gate.usage(id)
  // @ts-expect-error a step is 'hour' or 'day'
  await gate.usage(id, { step: 'week' })
  try {
    await gate.authenticate(undefined)
  } catch (e) {
    if (e instanceof AuthError) console.log(e.status, e.headers, e.problem.code)
  }
  const secret = generateSecret('standard')
  const signer = new WebhookSigner('standard', secret)
  const signed: Record<string, string> = signer.sign('{}', { timestamp: new Date() })
  const verifier = new WebhookVerifier('standard', { secrets: [secret], tolerance: '5m' })
  const shared = new WebhookVerifier('standard', { secret, replayGuard: 'redis://127.0.0.1:6379' })
  void shared
  const many = await Gate.open('postgres://gatepass@127.0.0.1/gatepass', { rateLimiter: 'redis://127.0.0.1:6379' })
  await many.close()
  try {
    const msg = verifier.verify(Buffer.from('{}'), signed)
    console.log(msg.id, msg.timestamp)
  } catch (e) {
    if (e instanceof WebhookError) console.log(e.code)
  }

  const app = express()
  app.get('/v1/bots', authenticate(gate), requireScopes('bots:read'), (req, res) => {
    const key: Key | undefined = req.gatepass?.key
    res.json({ id: key?.id })
  })
  app.get('/any', authenticate(gate, { resource: (req) => `channel:${String(req.params.id)}` }), requireAnyScope('a:b', 'c:d'), requireScopeExpression('a:b or c:d'), (req, res) => {
    res.end()
  })
  app.post('/hooks', express.raw({ type: '*/*' }), verifyWebhook(verifier), (req, res) => {
    res.json({ id: req.gatepassWebhook?.id })
  })
  app.post('/hooks/twilio', express.raw({ type: '*/*' }), verifyWebhook(verifier, { baseUrl: 'https://hooks.example.com' }), (req, res) => res.end())
  const { signingKey, verifyingKey } = generateKeypair('discord')
  const discord = new WebhookVerifier('discord', { secret: verifyingKey })
  const discordSigner = new WebhookSigner('discord', signingKey)
  const pk: string = publicKey('standard', 'whsk_…')
  const telegram = new WebhookVerifier('token', { secret: 'x', header: 'X-Telegram-Bot-Api-Secret-Token' })
  const tgSigner = new WebhookSigner('token', 'x', { header: 'X-Telegram-Bot-Api-Secret-Token' })
  const challenge: string = metaChallenge('hub.mode=subscribe', ['token'])
  app.get('/hooks/meta', metaSubscription(['token']))
  app.post('/interactions', express.raw({ type: '*/*' }), verifyWebhook(discord), (req, res) => res.end())
  void [pk, telegram, tgSigner, challenge, discordSigner]
  // The API Tokens page: the principal from the app's login, typed by Express's Request.
  app.use('/tokens', manageRouter({
    gate,
    principal: (req: express.Request) => (req.get('x-user') !== undefined ? { owner: 'w1', actor: 'user:1' } : null)
  }))
  app.use('/admin/tokens', manageRouter({ gate, principal: async () => ({ operator: true, actor: 'staff:ann' }) }))
  const answer: ManageAnswer = await gate.manage({
    method: 'GET', path: 'keys', query: '', headers: [['Origin', 'http://x']], body: Buffer.alloc(0), principal: null
  })
  const status: number = answer.status
  void status
  app.use(problemDetails())
  console.log(code, headers, k, when)
  await gate.close()
}

// @ts-expect-error: scheme names are checked
new WebhookVerifier('svix2', { secrets: [] })
// @ts-expect-error: key pairs exist only for standard and discord
generateKeypair('github')
// @ts-expect-error: a principal names an owner or asks for operator mode
void manageRouter({ gate: undefined as unknown as Gate, principal: () => ({ actor: 'user:1' }) })
// @ts-expect-error: issue needs a name
void Gate.open().then(async (g) => await g.issue({ scopes: [] }))

void main()
