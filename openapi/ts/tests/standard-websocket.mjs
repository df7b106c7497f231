// Run by standard-websocket.test.mjs under `node --experimental-websocket`:
// the stream as a browser runs it, on the standard WebSocket with a
// ws_token per connection. Prints one JSON line: the events and how many
// standard WebSockets were opened.
import { createClient } from "../dist/index.js";

const Standard = globalThis.WebSocket;
if (typeof Standard !== "function") {
  console.error("no global WebSocket");
  process.exit(3);
}
let opened = 0;
globalThis.WebSocket = class extends Standard {
  constructor(url) {
    super(url);
    opened++;
  }
};

const { SETTLE_URL: baseUrl, SETTLE_KEY: apiKey, SETTLE_AFTER: after, SETTLE_INVOICE: invoice } = process.env;
const backend = createClient({ baseUrl, apiKey }); // the merchant's backend mints the tokens
const browser = createClient({ baseUrl }); // no key
const events = [];
for await (const e of browser.stream({ after, wsToken: async () => (await backend.createWSToken()).ws_token })) {
  events.push({ id: e.id, type: e.type, status: e.data.object.status, invoice: e.data.object.id });
  if (e.type === "invoice.updated" && e.data.object.id === invoice) {
    break;
  }
}
let refused = "";
try {
  for await (const _ of browser.stream({})) {
    break;
  }
} catch (err) {
  refused = `${err.name}: ${err.message}`;
}
console.log(JSON.stringify({ opened, events, refused }));
// Exit explicitly: under load the closed standard socket was seen to keep the
// process alive past the test's limit (a known gap, see the report).
process.exit(0);
