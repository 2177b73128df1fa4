// A real OpenID provider for the auth tests (tests/oidc/__init__.py starts it): oidc-provider on
// 127.0.0.1, issuing client-credentials JWT access tokens for a resource (RFC 8707 indicators).
//
//   node provider.mjs --keys FILE [--port N] [--rotate]
//
// FILE holds the signing keys (a private JWKS): created with one RS256 and one ES256 key when it
// does not exist; --rotate puts a new key of each kind first (the signing keys) and keeps the old
// ones published, as a provider does during a key rotation. Prints "listening <issuer>" when ready.
//
// Clients (secret "secret"): mcp-host signs RS256, mcp-host-es ES256, short-lived RS256 with
// access tokens valid for one second; team-a and team-b sign RS256 and their access tokens carry
// a groups claim (["team-a"], ["team-b"]), for the access rules' tests. Every resource is an https URL (or http on 127.0.0.1); its
// scopes are agents:invoke and agents:read.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string' },
    port: { type: 'string', default: '0' },
    rotate: { type: 'boolean', default: false },
  },
});
if (!args.keys) throw new Error('--keys FILE is required');

const RESOURCE_SCOPES = 'agents:invoke agents:read';
const CLIENTS = {
  'mcp-host': { alg: 'RS256', ttl: 300 },
  'mcp-host-es': { alg: 'ES256', ttl: 300 },
  'short-lived': { alg: 'RS256', ttl: 1 },
  'team-a': { alg: 'RS256', ttl: 300, groups: ['team-a'] },
  'team-b': { alg: 'RS256', ttl: 300, groups: ['team-b'] },
};

function newKey(alg) {
  const { privateKey } = alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg, use: 'sig' };
}

let keys = existsSync(args.keys) ? JSON.parse(readFileSync(args.keys, 'utf8')).keys : [];
if (keys.length === 0 || args.rotate) {
  keys = [newKey('RS256'), newKey('ES256'), ...keys];
  writeFileSync(args.keys, JSON.stringify({ keys }), { mode: 0o600 });
}

const server = createServer();
await new Promise((resolve) => { server.listen(Number(args.port), '127.0.0.1', resolve); });
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  jwks: { keys },
  scopes: ['openid', 'agents:invoke', 'agents:read'],
  clients: Object.keys(CLIENTS).map((clientId) => ({
    client_id: clientId,
    client_secret: 'secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope: RESOURCE_SCOPES,
  })),
  async extraTokenClaims(ctx, token) {
    const groups = CLIENTS[token.clientId]?.groups;
    return groups ? { groups } : undefined;
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, resource, client) {
        const { alg, ttl } = CLIENTS[client.clientId];
        if (!/^(https:\/\/|http:\/\/127\.0\.0\.1:)/.test(resource)) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: RESOURCE_SCOPES,
          audience: resource,
          accessTokenTTL: ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg } },
        };
      },
    },
  },
});
server.on('request', provider.callback());
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
process.stdout.write(`listening ${issuer}\n`);
