"""What the HTTP front doors share that is HTTP, not one wire format: server-sent events, JSON
responses, the 400 naming a field, the chat message shape, the skeleton of an agent run
(``agent_run``), the JSON-RPC plumbing of MCP and A2A (``jsonrpc``), and the error and health
bodies of every route."""
