// The official MCP TypeScript SDK's OAuth client against the server (tests/app/test_oidc.py):
//
//   node mcp-client-auth.mjs SERVER_URL PROTECTED_URL ISSUER CLIENT_ID CLIENT_SECRET [SCOPE]
//
// SCOPE is the client's configured scope: this SDK version's client-credentials flow requests it,
// not the challenge's.
// 1. GET PROTECTED_URL without a token; the SDK parses the 401's WWW-Authenticate.
// 2. The SDK's auth() with its ClientCredentialsProvider: RFC 9728 discovery from SERVER_URL (the
//    MCP endpoint), the provider's metadata, then a client-credentials token for the resource.
// 3. GET PROTECTED_URL with that token.
// Prints one JSON object with what each step saw.
import { auth, extractWWWAuthenticateParams } from '@modelcontextprotocol/sdk/client/auth.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';

const [serverUrl, protectedUrl, issuer, clientId, clientSecret, clientScope] = process.argv.slice(2);

const challenge = await fetch(protectedUrl);
const { resourceMetadataUrl, scope } = extractWWWAuthenticateParams(challenge);
const provider = new ClientCredentialsProvider({
  clientId, clientSecret, expectedIssuer: issuer, scope: clientScope || undefined,
});
const result = await auth(provider, { serverUrl: new URL(serverUrl), resourceMetadataUrl, scope });
const token = provider.tokens()?.access_token;
const retried = await fetch(protectedUrl, { headers: { Authorization: `Bearer ${token}` } });
const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());

process.stdout.write(`${JSON.stringify({
  challengeStatus: challenge.status,
  resourceMetadataUrl: resourceMetadataUrl?.href,
  scope,
  result,
  audience: claims.aud,
  tokenScope: claims.scope,
  retriedStatus: retried.status,
  retriedChallenge: retried.headers.get('WWW-Authenticate'),
})}\n`);
