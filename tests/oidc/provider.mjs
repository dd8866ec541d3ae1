// A real OpenID Connect provider for Spindle's sign-on tests: oidc-provider (npm 9.x, MIT, an
// OpenID-certified implementation) on Node, with the test campus's people below (tests add
// their own through POST /test/people). Run: node provider.mjs PORT
//
// - Clients register themselves (OpenID Connect Dynamic Client Registration, POST /reg): each
//   test registers Spindle's way back as its redirect_uri and gets a client_id and secret.
// - PKCE (S256) is required of every client, so a client that does not send it is refused.
// - The login form checks the person's password; consent is not asked (a first-party client's
//   grant is made at once, as oidc-provider's documentation shows with loadExistingGrant).
// - Claims: `sub` (the login), `name`, `preferred_username`, `email`, and `groups` (scope
//   "groups"); the ID token carries them all, so nothing depends on the userinfo endpoint.
// - POST /test/tamper {"client_id": …, "mode": …} alters the ID token of that client's next
//   token response only (tests run side by side, each with its own client), to show
//   that Spindle refuses it: "audience" (another client's), "expired", "nonce" (not the one
//   sent), "issuer", "unsigned" (alg none), "foreign-key" (signed by a key not in the JWKS).
//   The tampered token is re-signed with the provider's own key unless the mode is about the
//   signature, so each refusal is for the one thing changed.

import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Provider = (await import('oidc-provider')).default;
const jose = await import('jose');

const port = Number(process.argv[2] || 0);
const issuer = `http://127.0.0.1:${port}`;

// login → { password, name, groups, email }
const people = new Map([
  ['chen.lib', { password: 'chen-pass-1', name: '陈 图书馆员', groups: ['library-staff'], email: 'chen@b.example.edu.cn' }],
  ['sun.admin', { password: 'sun-pass-1', name: '孙 管理员', groups: ['library-staff', 'library-admins'], email: 'sun@b.example.edu.cn' }],
  ['zhou.student', { password: 'zhou-pass-1', name: '周 学生', groups: ['student'], email: 'zhou@b.example.edu.cn' }],
]);

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(privateKey)), kid: 'test-rs256', alg: 'RS256', use: 'sig' };
const foreign = (await jose.generateKeyPair('RS256', { extractable: true })).privateKey;

const tamper = new Map(); // client_id → mode, for its next token response

const provider = new Provider(issuer, {
  jwks: { keys: [signingJwk] },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
  },
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email'],
    groups: ['groups'],
  },
  conformIdTokenClaims: false,
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: [require('node:crypto').randomBytes(32).toString('hex')] },
  ttl: { IdToken: 600, AccessToken: 600, AuthorizationCode: 60, Session: 3600, Interaction: 600, Grant: 3600 },
  async findAccount(ctx, id) {
    const p = people.get(id);
    if (!p) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: p.name, preferred_username: id, email: p.email, groups: p.groups };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const id = ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (id) return ctx.oidc.provider.Grant.find(id);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile email groups');
    await grant.save();
    return grant;
  },
});
provider.proxy = false;

// The ID token of the next token response, altered as the test asked.
provider.use(async (ctx, next) => {
  await next();
  const client = ctx.oidc?.client?.clientId;
  if (ctx.path !== '/token' || !tamper.has(client) || typeof ctx.body?.id_token !== 'string') return;
  const mode = tamper.get(client);
  tamper.delete(client);
  const claims = jose.decodeJwt(ctx.body.id_token);
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'RS256', kid: signingJwk.kid, typ: 'JWT' };
  let key = privateKey;
  switch (mode) {
    case 'audience': claims.aud = 'another-client'; delete claims.azp; break;
    case 'expired': claims.iat = now - 1200; claims.exp = now - 600; break;
    case 'nonce': claims.nonce = 'not-the-nonce-sent'; break;
    case 'issuer': claims.iss = 'http://127.0.0.1:1/elsewhere'; break;
    case 'foreign-key': key = foreign; break;
    case 'unsigned': {
      const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
      ctx.body = { ...ctx.body, id_token: `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.` };
      return;
    }
    default: return;
  }
  ctx.body = { ...ctx.body, id_token: await new jose.SignJWT(claims).setProtectedHeader(header).sign(key) };
});

const page = (body) => `<!doctype html><html><head><meta charset="utf-8"><title>Test campus sign-in</title></head><body>${body}</body></html>`;
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function readForm(req) {
  let raw = '';
  for await (const chunk of req) {
    raw += chunk;
    if (raw.length > 65536) throw new Error('form too large');
  }
  return new URLSearchParams(raw);
}

async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(page(`<h1>Test campus</h1><form method="post" action="/interaction/${esc(uid)}">
<input id="login" name="login" autofocus><input id="password" name="password" type="password">
<button id="submit" type="submit">Sign in</button></form>`));
    return;
  }
  const form = await readForm(req);
  const login = form.get('login') || '';
  const p = people.get(login);
  if (!p || p.password !== form.get('password')) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page(`<p id="wrong">Wrong login or password.</p><form method="post" action="/interaction/${esc(uid)}">
<input id="login" name="login"><input id="password" name="password" type="password"><button id="submit" type="submit">Sign in</button></form>`));
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
}

async function test(req, res, path) {
  let body = '';
  for await (const chunk of req) body += chunk;
  const json = body ? JSON.parse(body) : {};
  if (path === '/test/people') {
    people.set(json.login, { password: json.password, name: json.name || json.login, groups: json.groups || [], email: json.email || `${json.login}@b.example.edu.cn` });
  } else if (path === '/test/tamper') {
    tamper.set(json.client_id, json.mode);
  } else {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(204).end();
}

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  const path = new URL(req.url, issuer).pathname;
  try {
    const m = /^\/interaction\/([^/]+)$/.exec(path);
    if (m) return await interaction(req, res, m[1]);
    if (path.startsWith('/test/') && req.method === 'POST') return await test(req, res, path);
  } catch (e) {
    if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`${e}`);
    return;
  }
  return callback(req, res);
});
server.listen(port, '127.0.0.1', () => console.log(`oidc-provider at ${issuer}`));
