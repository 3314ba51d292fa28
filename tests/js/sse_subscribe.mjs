// One operation through graphql-sse's own client in "distinct connections mode" (one
// POST /graphql with Accept: text/event-stream per operation), as a browser app would use it.
// Usage: node sse_subscribe.mjs URL TOKEN|- QUERY [VARIABLES_JSON]
// Prints one JSON line per thing the client reports: {"event":"next","value":…},
// {"event":"error","message":…,"status":…} or {"event":"complete"}; exits after the last.
import { createClient } from 'graphql-sse';

const [url, token, query, variables = '{}'] = process.argv.slice(2);
const out = (line) => process.stdout.write(JSON.stringify(line) + '\n');

const client = createClient({
  url,
  singleConnection: false,
  headers: token && token !== '-' ? { authorization: `Bearer ${token}` } : {},
});

await new Promise((resolve) => {
  client.subscribe(
    { query, variables: JSON.parse(variables) },
    {
      next: (value) => out({ event: 'next', value }),
      error: (err) => {
        out({ event: 'error', message: String(err?.message ?? err), status: err?.response?.status ?? null });
        resolve();
      },
      complete: () => {
        out({ event: 'complete' });
        resolve();
      },
    },
  );
});
client.dispose();
