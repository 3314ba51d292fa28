// A browser page's graphql-ws client, as far as the server can tell: the real graphql-ws client
// over `ws`, which (unlike a browser) lets the test choose the handshake's Origin header.
// node ws_origin.mjs <ws url> <origin, or "" for none>
// Prints {"connected": bool, "data": …, "status": HTTP status of a refused handshake, "closeCode"}.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, origin] = process.argv.slice(2);
let status = null;

class OriginSocket extends WebSocket {
  constructor(address, protocols) {
    super(address, protocols, origin ? { headers: { Origin: origin } } : {});
  }
}

let connected = false;
let closeCode = null;
const client = createClient({
  url,
  webSocketImpl: OriginSocket,
  retryAttempts: 0,
  lazy: true,
  on: {
    connected: () => {
      connected = true;
    },
    error: (error) => {
      // a refused handshake: `ws` names the HTTP status in its error
      const found = /Unexpected server response: (\d+)/.exec(String(error?.message ?? error));
      if (found) status = Number(found[1]);
    },
    closed: (event) => {
      closeCode = event?.code ?? null;
    },
  },
});

let data = null;
try {
  for await (const result of client.iterate({ query: "{ __typename }" })) {
    data = result.data ?? null;
  }
} catch {
  // a refused handshake: reported by `connected`, `status` and `closeCode`
}
await client.dispose();
console.log(JSON.stringify({ connected, data, status, closeCode }));
