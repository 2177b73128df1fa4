// The official MCP TypeScript SDK (@modelcontextprotocol/sdk, pinned in package.json) against
// agentsmcp's /mcp: `node client.mjs '<json plan>'`. Lists the tools, calls an agent without and
// with progress, cancels a call in flight and calls an agent whose upstream fails, then prints one
// JSON report on stdout for tests/mcp_clients/test_official_clients.py. The fake upstreams' control
// API (tests/fakes) sets what the upstream does for each step and shows when the cancelled call's
// upstream connection dropped.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";

// Every wait below is bounded; the pytest side bounds the whole process as well.
const WAIT_MS = 15000;

const plan = JSON.parse(process.argv[2]);
const report = { client: "@modelcontextprotocol/sdk", step: "connect" };

async function control(method, path, body) {
  const response = await fetch(plan.fake_url + path, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`fake control ${method} ${path}: ${response.status}`);
  return response.json();
}

async function behave(behavior) {
  await control("POST", "/_fake/reset");
  await control("PUT", `/_fake/${plan.provider}/default`, behavior);
}

async function waitFor(what, predicate) {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    const stats = (await control("GET", "/_fake/stats"))[plan.provider];
    if (predicate(stats)) return stats;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function toolResult(result) {
  return {
    is_error: result.isError === true,
    structured: result.structuredContent ?? null,
    text: result.content.filter((block) => block.type === "text").map((block) => block.text),
  };
}

async function run() {
  const transport = new StreamableHTTPClientTransport(new URL(plan.url), {
    requestInit: { headers: { Authorization: `Bearer ${plan.token}` } },
  });
  const client = new Client({ name: "agentsmcp-tests", version: "1.0.0" });
  await client.connect(transport);
  try {
    report.protocol_version = transport.protocolVersion ?? null;
    report.session_id = transport.sessionId ?? null;
    report.server_info = client.getServerVersion() ?? null;

    report.step = "tools/list";
    report.tools = (await client.listTools()).tools;

    // callTool validates structuredContent against the listed outputSchema.
    report.step = "call";
    await behave(plan.plain);
    report.call = toolResult(await client.callTool({ name: plan.tool, arguments: plan.arguments }));

    report.step = "call with progress";
    await behave(plan.progress);
    const progress = [];
    const withProgress = await client.callTool(
      { name: plan.tool, arguments: plan.arguments },
      undefined,
      { onprogress: (p) => progress.push({ progress: p.progress, total: p.total ?? null, message: p.message ?? null }) },
    );
    report.progress_call = { ...toolResult(withProgress), progress };

    // A host with a short request timeout that it resets on every progress notification (as
    // Claude Code does with its idle timer): a call longer than the timeout still completes.
    report.step = "long call under a short host timeout";
    await behave(plan.long);
    let longProgress = 0;
    const long = await client.callTool({ name: plan.tool, arguments: plan.arguments }, undefined, {
      timeout: plan.host_timeout_ms,
      resetTimeoutOnProgress: plan.reset_timeout_on_progress ?? true,
      onprogress: () => { longProgress += 1; },
    });
    report.long_call = { ...toolResult(long), progress_count: longProgress };
    await behave(plan.progress);

    report.step = "concurrent calls";
    // Two calls in flight at once on one session, each with its own progress token.
    const tracked = async () => {
      const seen = [];
      const result = await client.callTool({ name: plan.tool, arguments: plan.arguments }, undefined, {
        onprogress: (p) => seen.push(p.progress),
      });
      return { ...toolResult(result), progress: seen };
    };
    report.concurrent = await Promise.all([tracked(), tracked()]);

    report.step = "cancel";
    await behave(plan.slow);
    const abort = new AbortController();
    const cancel = {};
    const pending = client
      .callTool({ name: plan.tool, arguments: plan.arguments }, undefined, { signal: abort.signal })
      .then(
        () => { cancel.finished = true; },
        (error) => { cancel.cancelled = abort.signal.aborted; cancel.error = String(error); },
      );
    await waitFor("the upstream request", (s) => s.inflight >= 1);
    const cancelledAt = performance.now();
    abort.abort("the test cancels the call");
    await pending;
    const stats = await waitFor("the upstream disconnect", (s) => s.disconnects.length > 0);
    cancel.upstream_stopped_after_s = (performance.now() - cancelledAt) / 1000;
    cancel.upstream_attempts = stats.attempts;
    cancel.upstream_inflight = stats.inflight;
    report.cancel = cancel;

    report.step = "failure";
    await behave(plan.failing);
    report.failure = toolResult(await client.callTool({ name: plan.tool, arguments: plan.arguments }));

    report.step = "unknown tool";
    try {
      await client.callTool({ name: "no-such-agent-tool", arguments: plan.arguments });
      report.unknown_tool = { raised: false };
    } catch (error) {
      report.unknown_tool = {
        raised: true,
        code: error instanceof McpError ? error.code : null,
        message: String(error),
      };
    }

    report.step = "ping after all";
    await client.ping();
    report.step = "done";
  } finally {
    await client.close();
  }
}

try {
  await run();
  process.stdout.write(JSON.stringify(report) + "\n");
} catch (error) {
  report.error = String(error);
  report.traceback = error?.stack ?? null;
  process.stdout.write(JSON.stringify(report) + "\n");
  process.exitCode = 1;
}
