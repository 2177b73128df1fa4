"""What the HTTP front doors (``app.openai_api``, ``app.runs_api``) share that is HTTP, not one
wire format: server-sent events, JSON responses, the 400 naming a field, the chat message shape
both accept, and the error and health bodies of every route."""
