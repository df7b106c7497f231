// The README's TypeScript example, run against a real settle serve.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { example } from "../dist-tests/example.js";
import { startSettle } from "./settle.mjs";

let settle;
before(async () => {
  settle = await startSettle();
});
after(async () => {
  await settle?.stop();
});

test("the README's example runs", { timeout: 30_000 }, async () => {
  const lines = await example(settle.baseUrl, settle.apiKey);
  assert.match(lines[0], /^inv_\w+ open 25\.00 USD$/);
  assert.deepEqual(lines.slice(1), [
    "recovered invoice.created",
    "recovered invoice_payment.updated",
    "recovered invoice.updated",
    "streamed invoice_payment.updated",
    "streamed invoice.updated",
    "refused 422 invalid_amount",
  ]);
});
