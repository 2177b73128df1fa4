// The official MCP TypeScript SDK, end to end with OAuth against our real /mcp
// (tests/app/test_oidc.py):
//
//   node mcp-client-oauth.mjs '<json plan>'
//
// plan: {url, issuer, clientId, clientSecret, scope, tool, arguments, badTokens: {name: token}}
// 1. Client + StreamableHTTPClientTransport with a ClientCredentialsProvider and no token: the
//    first POST gets 401 with our discovery challenge; the SDK follows our RFC 9728 metadata to the
//    provider, gets a client-credentials token for our resource, retries, then lists the tools
//    and calls the agent.
// 2. For each bad token: a Client that sends it as a fixed header (no auth provider); connecting
//    fails with the server's status and JSON-RPC error body.
// Every HTTP exchange goes through a recording fetch; prints one JSON report.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';

const plan = JSON.parse(process.argv[2]);
const report = { exchanges: [] };

function recordingFetch(log) {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : {}));
    let rpcMethod = null;
    if (typeof init?.body === 'string' && url.pathname === '/mcp') {
      try { rpcMethod = JSON.parse(init.body).method ?? null; } catch { rpcMethod = null; }
    }
    const response = await fetch(input, init);
    const entry = {
      method: init?.method ?? 'GET',
      url: url.href,
      rpcMethod,
      authorization: headers.has('authorization') ? headers.get('authorization').split(' ')[0] : null,
      status: response.status,
      wwwAuthenticate: response.headers.get('www-authenticate'),
    };
    if (!response.ok && url.pathname === '/mcp') {
      entry.body = await response.clone().text();
    }
    log.push(entry);
    return response;
  };
}

async function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function run() {
  report.step = 'oauth';
  const provider = new ClientCredentialsProvider({
    clientId: plan.clientId,
    clientSecret: plan.clientSecret,
    expectedIssuer: plan.issuer,
    scope: plan.scope,
  });
  const transport = new StreamableHTTPClientTransport(new URL(plan.url), {
    authProvider: provider,
    fetch: recordingFetch(report.exchanges),
  });
  const client = new Client({ name: 'agentsmcp-oauth-test', version: '1.0.0' });
  await withTimeout(client.connect(transport), 30000, 'connect');
  report.server_info = client.getServerVersion() ?? null;
  const token = provider.tokens()?.access_token;
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  report.token = { audience: claims.aud, scope: claims.scope, issuer: claims.iss };

  report.step = 'tools/list';
  const listed = await withTimeout(client.listTools(), 30000, 'tools/list');
  report.tools = listed.tools.map((tool) => tool.name);

  report.step = 'tools/call';
  const result = await withTimeout(
    client.callTool({ name: plan.tool, arguments: plan.arguments }), 30000, 'tools/call');
  report.call = {
    is_error: result.isError ?? false,
    structured: result.structuredContent ?? null,
    text: result.content.filter((block) => block.type === 'text').map((block) => block.text),
  };
  await client.close();

  report.step = 'bad tokens';
  report.bad = {};
  for (const [name, badToken] of Object.entries(plan.badTokens ?? {})) {
    const exchanges = [];
    const rejected = new StreamableHTTPClientTransport(new URL(plan.url), {
      requestInit: { headers: { Authorization: `Bearer ${badToken}` } },
      fetch: recordingFetch(exchanges),
    });
    const refused = new Client({ name: 'agentsmcp-oauth-test', version: '1.0.0' });
    const outcome = { exchanges };
    try {
      await withTimeout(refused.connect(rejected), 30000, `connect with ${name}`);
      outcome.connected = true;
      await refused.close();
    } catch (error) {
      outcome.connected = false;
      outcome.errorCode = error.code ?? null;
      outcome.errorName = error.constructor?.name ?? null;
    }
    report.bad[name] = outcome;
  }
  report.step = 'done';
}

try {
  await run();
} catch (error) {
  report.error = `${error?.constructor?.name}: ${error?.message}`;
  report.stack = error?.stack ?? null;
}
process.stdout.write(`${JSON.stringify(report)}\n`);
