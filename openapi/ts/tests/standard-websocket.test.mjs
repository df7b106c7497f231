// stream() on the standard WebSocket (browsers; node 22 and later), which
// cannot send headers: authenticated by a ws_token per connection.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createClient } from "../dist/index.js";
import { startSettle } from "./settle.mjs";

let settle;
before(async () => {
  settle = await startSettle();
});
after(async () => {
  await settle?.stop();
});

test("stream on the standard WebSocket with ws_tokens", { timeout: 30_000 }, async () => {
  const c = createClient({ baseUrl: settle.baseUrl, apiKey: settle.apiKey });
  const inv = await c.createInvoice({ amount: "25.00", currency: "USD" });
  const [created] = (await c.listEvents({ invoice_id: inv.id })).data;
  await c.simulatePayment(inv.id, { amount: "25.00" });

  // node 20 has the standard WebSocket behind a flag; 22 and later always.
  const flags = Number(process.versions.node.split(".")[0]) < 22 ? ["--experimental-websocket"] : [];
  const child = join(dirname(fileURLToPath(import.meta.url)), "standard-websocket.mjs");
  const { stdout } = await promisify(execFile)(process.execPath, [...flags, "--no-warnings", child], {
    timeout: 20_000,
    env: { ...process.env, SETTLE_URL: settle.baseUrl, SETTLE_KEY: settle.apiKey, SETTLE_AFTER: created.id, SETTLE_INVOICE: inv.id },
  });
  const got = JSON.parse(stdout);
  assert.equal(got.opened, 1, "one standard WebSocket");
  assert.deepEqual(
    got.events.map((e) => [e.type, e.status]),
    [
      ["invoice_payment.updated", "confirmed"],
      ["invoice.updated", "paid"],
    ],
  );
  assert.match(got.refused, /TypeError: stream: no apiKey and no wsToken/);
});
