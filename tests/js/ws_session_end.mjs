// graphql-ws's own client (with `ws` as its WebSocket), retry settings left at their defaults,
// following one subscription until the server ends it.
// Usage: node ws_session_end.mjs URL TOKEN QUERY [VARIABLES_JSON]
// Prints a JSON line per result ({"event":"next","value":…}), then one last line with how the
// subscription ended and how often the client connected: {"event":"end","how":"error"|"complete",
// "code":…,"reason":…,"connecting":n,"opened":n,"connected":n,"ackPayload":…}.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, query, variables = '{}'] = process.argv.slice(2);
const out = (line) => process.stdout.write(JSON.stringify(line) + '\n');
const counts = { connecting: 0, opened: 0, connected: 0 };
let ackPayload = null;

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
  on: {
    connecting: () => counts.connecting++,
    opened: () => counts.opened++,
    connected: (_socket, payload) => {
      counts.connected++;
      ackPayload = payload ?? null;
    },
  },
});

const end = await new Promise((resolve) => {
  client.subscribe(
    { query, variables: JSON.parse(variables) },
    {
      next: (value) => out({ event: 'next', value }),
      error: (err) =>
        resolve({ how: 'error', code: err?.code ?? null, reason: err?.reason ?? String(err) }),
      complete: () => resolve({ how: 'complete', code: null, reason: null }),
    },
  );
});
out({ event: 'end', ...end, ...counts, ackPayload });
await client.dispose();
