// A real OpenID provider for Triage's tests and demo: npm `oidc-provider` (OpenID Certified) with
// one static client, a few users in different groups (a `groups` claim in the ID token), a plain
// login form, and RP-initiated logout.
//
// Configuration comes as JSON in the environment variable OIDC_PROVIDER_CONFIG:
//   { "module": "/abs/path/to/tools/node_modules/oidc-provider/lib/index.js",
//     "port": 9400, "issuer": "http://127.0.0.1:9400",
//     "client": { "client_id", "client_secret", "redirect_uris": [], "post_logout_redirect_uris": [] },
//     "users": [ { "id", "password", "email", "name", "groups": [] } ] }
//
// For tests only, POST /test/tamper {"mode": ...} makes the token endpoint hand out a bad ID token
// on the next logins (a fault a correct provider never produces on its own): "wrong-aud",
// "wrong-iss", "expired", "skewed" (expired 20 s ago), "wrong-nonce", "forged" (signed by another
// key under the same key id), or "none".
import crypto from 'node:crypto';
import http from 'node:http';
import { pathToFileURL } from 'node:url';

const config = JSON.parse(process.env.OIDC_PROVIDER_CONFIG ?? '{}');
const { default: Provider } = await import(pathToFileURL(config.module).href);

const signingKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const kid = 'triage-test-key';
const privateJwk = { ...signingKey.privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };

const users = new Map((config.users ?? []).map((u) => [u.id, u]));
let tamper = 'none';

const provider = new Provider(config.issuer, {
  clients: [{
    client_id: config.client.client_id,
    client_secret: config.client.client_secret,
    redirect_uris: config.client.redirect_uris,
    post_logout_redirect_uris: config.client.post_logout_redirect_uris ?? [],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [privateJwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  // Put the scopes' claims in the ID token itself (Triage reads groups from it).
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        ctx.body = `<!doctype html><html><body><main data-testid="provider-logout">
          <h1>Sign out of the test provider?</h1>${form}
          <button type="submit" form="op.logoutForm" value="yes" name="logout" data-testid="provider-logout-yes">Yes, sign me out</button>
          </main></body></html>`;
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = '<!doctype html><html><body><main data-testid="provider-logged-out">Signed out.</main></body></html>';
      },
    },
  },
  async findAccount(ctx, id) {
    const user = users.get(id);
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: user.email, email_verified: true, name: user.name ?? id, groups: user.groups ?? [] };
      },
    };
  },
  // A first-party client: no consent screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
});

const b64url = (buf) => Buffer.from(buf).toString('base64url');

function resign(idToken) {
  const [header, payload] = idToken.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  const now = Math.floor(Date.now() / 1000);
  let key = signingKey.privateKey;
  switch (tamper) {
    case 'wrong-aud': claims.aud = 'some-other-client'; break;
    case 'wrong-iss': claims.iss = 'http://127.0.0.1:1/other-issuer'; break;
    case 'expired': claims.iat = now - 7200; claims.exp = now - 3600; break;
    case 'skewed': claims.exp = now - 20; break;
    case 'wrong-nonce': claims.nonce = 'not-the-nonce-of-this-login'; break;
    case 'forged': key = otherKey.privateKey; break;
    default: return idToken;
  }
  const body = `${header}.${b64url(JSON.stringify(claims))}`;
  return `${body}.${b64url(crypto.sign('sha256', Buffer.from(body), key))}`;
}

provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body && ctx.body.id_token && tamper !== 'none') {
    ctx.body = { ...ctx.body, id_token: resign(ctx.body.id_token) };
  }
});

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, message) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Test provider login</title></head><body>
<main data-testid="provider-login"><h1>Sign in to the test provider</h1>
${message ? `<p data-testid="provider-login-error">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>User <input name="login" data-testid="provider-user" autocomplete="off"></label>
<label>Password <input name="password" type="password" data-testid="provider-password"></label>
<button type="submit" data-testid="provider-submit">Sign in</button>
</form></main></body></html>`;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

async function interaction(req, res, url) {
  const parts = url.pathname.split('/').filter(Boolean); // ['interaction', uid, ('login')]
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET' && parts.length === 2) {
    if (details.prompt.name === 'login') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(loginPage(details.uid));
      return;
    }
    // Consent for this first-party client is implicit.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    grant.addOIDCScope('openid email profile groups');
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  if (req.method === 'POST' && parts[2] === 'login') {
    const form = new URLSearchParams(await readBody(req));
    const user = users.get(form.get('login') ?? '');
    if (!user || user.password !== form.get('password')) {
      res.writeHead(401, { 'content-type': 'text/html; charset=utf-8' });
      res.end(loginPage(details.uid, 'Unknown user or wrong password.'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: user.id } }, { mergeWithLastSubmission: false });
    return;
  }
  res.writeHead(404).end();
}

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, config.issuer);
  try {
    if (url.pathname === '/test/tamper' && req.method === 'POST') {
      tamper = JSON.parse(await readBody(req)).mode ?? 'none';
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ mode: tamper }));
      return;
    }
    if (url.pathname.startsWith('/interaction/')) {
      await interaction(req, res, url);
      return;
    }
    callback(req, res);
  } catch (err) {
    console.error(err);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`provider error: ${err.message}`);
  }
});
server.listen(config.port, '127.0.0.1', () => console.log(`oidc-provider listening on ${config.issuer}`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
