// The SDK against a real `settle serve` (SQLite, test mode): create, pay in
// the sandbox, recover events by cursor, verify a delivered webhook, follow
// the merchant WebSocket across a disconnect.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";
import { createClient, InvalidWebhookError, SettleError, verifyWebhook } from "../dist/index.js";
import { eventually, startProxy, startReceiver, startSettle } from "./settle.mjs";

// Every test ends within this, even when a stream waits for what never comes.
const limit = { timeout: 30_000 };

let settle;
let c;

before(async () => {
  settle = await startSettle();
  c = createClient({ baseUrl: settle.baseUrl, apiKey: settle.apiKey });
});

after(async () => {
  await settle?.stop();
});

// newInvoice creates a 25.00 USD test invoice payable in the sandbox.
function newInvoice(order) {
  return c.createInvoice({ amount: "25.00", currency: "USD", payment_methods: ["sandbox"], merchant_order_id: order });
}

describe("invoices", () => {
  test("create, get, list and pay in the sandbox", limit, async () => {
    const inv = await c.createInvoice(
      { amount: "25.00", currency: "USD", payment_methods: ["sandbox"], merchant_order_id: "order-1042" },
      { idempotencyKey: "order-1042" },
    );
    assert.match(inv.id, /^inv_/);
    assert.equal(inv.status, "open");
    assert.equal(inv.amount_due, "25.00");
    assert.equal(inv.mode, "test");

    const again = await c.createInvoice(
      { amount: "25.00", currency: "USD", payment_methods: ["sandbox"], merchant_order_id: "order-1042" },
      { idempotencyKey: "order-1042" },
    );
    assert.equal(again.id, inv.id, "the same idempotency key answers the same invoice");

    assert.equal((await c.getInvoice(inv.id)).id, inv.id);
    const list = await c.listInvoices({ merchant_order_id: "order-1042" });
    assert.deepEqual(
      list.data.map((i) => i.id),
      [inv.id],
    );

    const paid = await c.simulatePayment(inv.id, { amount: "25.00" });
    assert.equal(paid.invoice.status, "paid");
    assert.equal(paid.invoice.amount_paid, "25.00");
    assert.equal(paid.payment.status, "confirmed");
    const st = await c.getInvoiceStatus(inv.id);
    assert.equal(st.status, "paid");
    assert.equal(st.amount_due, "0.00");
  });

  test("errors carry the problem's code", limit, async () => {
    await assert.rejects(c.createInvoice({ amount: "1.234", currency: "USD" }), (err) => {
      assert.ok(err instanceof SettleError);
      assert.equal(err.status, 422);
      assert.equal(err.code, "invalid_amount");
      assert.match(err.problem.detail ?? "", /amount/);
      return true;
    });
    await assert.rejects(c.getInvoice("inv_doesnotexist"), { name: "SettleError", status: 404, code: "not_found" });
    const stranger = createClient({ baseUrl: settle.baseUrl, apiKey: "sk_test_notakey" });
    await assert.rejects(stranger.listInvoices(), { status: 401, code: "invalid_api_key" });
  });

  test("idempotent requests are retried with the same key", limit, async () => {
    // A proxy that answers the first request 503 and forwards the rest.
    const seen = [];
    const flaky = createServer(async (req, res) => {
      const chunks = [];
      for await (const ch of req) {
        chunks.push(ch);
      }
      seen.push(req.headers["idempotency-key"]);
      if (seen.length === 1) {
        res.writeHead(503, { "Content-Type": "application/problem+json", "Retry-After": "0" });
        res.end(JSON.stringify({ title: "Service Unavailable", status: 503, code: "unavailable" }));
        return;
      }
      const headers = { ...req.headers };
      delete headers.host;
      delete headers["content-length"];
      const up = await fetch(settle.baseUrl + req.url, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
      res.writeHead(up.status, { "Content-Type": up.headers.get("Content-Type") ?? "application/json" });
      res.end(Buffer.from(await up.arrayBuffer()));
    });
    await new Promise((r) => flaky.listen(0, "127.0.0.1", r));
    try {
      const fc = createClient({ baseUrl: `http://127.0.0.1:${flaky.address().port}`, apiKey: settle.apiKey, retry: { initialMs: 10 } });
      const inv = await fc.createInvoice({ amount: "3.00", currency: "USD", payment_methods: ["sandbox"] });
      assert.equal(inv.status, "open");
      assert.equal(seen.length, 2);
      assert.match(seen[0], /^settle-ts-/);
      assert.equal(seen[1], seen[0], "the retry carries the first attempt's Idempotency-Key");

      const none = createClient({ baseUrl: `http://127.0.0.1:${flaky.address().port}`, apiKey: settle.apiKey, retry: { maxRetries: 0 } });
      seen.length = 0;
      await assert.rejects(none.listInvoices(), { status: 503, code: "unavailable" });
    } finally {
      flaky.closeAllConnections();
      await new Promise((r) => flaky.close(r));
    }
  });
});

describe("events", () => {
  test("recovered by cursor, page by page, with nothing missed or repeated", limit, async () => {
    const first = await newInvoice("events-1");
    const [created] = (await c.listEvents({ invoice_id: first.id })).data;
    assert.equal(created?.type, "invoice.created");

    const second = await newInvoice("events-2");
    await c.simulatePayment(second.id, { amount: "25.00" });
    // Events are listed once the sequencer has numbered them: wait for the
    // second invoice's three, so that both listings below see the same feed.
    for (let tries = 0; (await c.listEvents({ invoice_id: second.id })).data.length < 3; tries++) {
      assert.ok(tries < 200, "the second invoice's events were not listed within 10 s");
      await new Promise((r) => setTimeout(r, 50));
    }

    // Everything after the cursor, by pages of 1 and of 100: the same events.
    const small = [];
    for await (const e of c.events(created.id, { limit: 1 })) {
      small.push(e);
    }
    const big = [];
    for await (const e of c.events(created.id)) {
      big.push(e);
    }
    assert.deepEqual(
      small.map((e) => e.id),
      big.map((e) => e.id),
    );
    assert.ok(!small.some((e) => e.id === created.id), "the cursor's own event is not repeated");
    const types = small.filter((e) => e.data.object?.id === second.id || e.data.object?.invoice_id === second.id).map((e) => e.type);
    assert.deepEqual(types.sort(), ["invoice.created", "invoice.updated", "invoice_payment.updated"]);
    for (let i = 1; i < small.length; i++) {
      assert.ok(small[i].sequence > small[i - 1].sequence, "in sequence order");
    }
    const one = await c.getEvent(small[0].id);
    assert.deepEqual(one, small[0]);
  });
});

describe("webhooks", () => {
  test("a delivered webhook verifies with verifyWebhook", limit, async () => {
    const rx = await startReceiver();
    try {
      const ep = await c.createWebhookEndpoint({ url: rx.url, enabled_events: ["invoice.updated"] });
      assert.match(ep.secret ?? "", /^whsec_/);
      const inv = await newInvoice("webhook-1");
      await c.simulatePayment(inv.id, { amount: "25.00" });

      const got = await rx.waitFor((r) => {
        const e = JSON.parse(r.body.toString("utf8"));
        return e.type === "invoice.updated" && e.data.object.id === inv.id;
      });
      const ev = verifyWebhook(ep.secret, got.body, got.headers);
      assert.equal(ev.id, got.headers["webhook-id"]);
      assert.equal(ev.type, "invoice.updated");
      assert.equal(ev.data.object.status, "paid");
      assert.equal(ev.data.previous_status, "open");
      assert.deepEqual(await c.getEvent(ev.id), ev, "the webhook carries the stored event");

      // As a string and with fetch's Headers too.
      const h = new Headers();
      for (const [k, v] of Object.entries(got.headers)) {
        h.set(k, String(v));
      }
      assert.equal(verifyWebhook(ep.secret, got.body.toString("utf8"), h).id, ev.id);

      const tampered = Buffer.from(got.body.toString("utf8").replace('"paid"', '"open"'));
      assert.throws(() => verifyWebhook(ep.secret, tampered, got.headers), InvalidWebhookError);
      const other = "whsec_" + Buffer.alloc(32, 7).toString("base64");
      assert.throws(() => verifyWebhook(other, got.body, got.headers), InvalidWebhookError);
      const stale = { ...got.headers, "webhook-timestamp": String(Math.floor(Date.now() / 1000) - 600) };
      assert.throws(() => verifyWebhook(ep.secret, got.body, stale), InvalidWebhookError);
    } finally {
      await rx.close();
    }
  });
});

describe("stream", () => {
  test("follows the merchant WebSocket and resumes after a disconnect without gap or duplicate", limit, async () => {
    const proxy = await startProxy(settle.port);
    const viaProxy = createClient({ baseUrl: proxy.url, apiKey: settle.apiKey });
    const ac = new AbortController();
    let done;
    try {
      const start = await newInvoice("stream-0");
      const [cursor] = (await c.listEvents({ invoice_id: start.id })).data;

      const got = [];
      const disconnects = [];
      done = (async () => {
        for await (const e of viaProxy.stream({
          after: cursor.id,
          signal: ac.signal,
          reconnectInitialMs: 20,
          reconnectMaxMs: 200,
          onDisconnect: (reason) => disconnects.push(reason),
        })) {
          got.push(e);
        }
      })();
      const paidEvent = (id) => () => got.some((e) => e.type === "invoice.updated" && e.data.object.id === id && e.data.object.status === "paid");

      const a = await newInvoice("stream-a");
      await c.simulatePayment(a.id, { amount: "25.00" });
      await eventually(paidEvent(a.id), "invoice a paid over the stream");

      // Drop the connection and keep the server unreachable while invoice b
      // is created and paid; the stream must get b's events on resuming.
      proxy.refuse(true);
      proxy.cut();
      await eventually(() => disconnects.length >= 1, "the disconnect");
      const b = await newInvoice("stream-b");
      await c.simulatePayment(b.id, { amount: "25.00" });
      await eventually(() => disconnects.length >= 2, "a refused reconnection");
      proxy.refuse(false);
      await eventually(paidEvent(b.id), "invoice b paid over the stream after resuming");

      const feed = [];
      for await (const e of c.events(cursor.id)) {
        feed.push(e.id);
      }
      await eventually(() => got.length >= feed.length, "every event of the feed");
      assert.deepEqual(
        got.map((e) => e.id),
        feed,
        "the stream saw exactly the recovery feed's events, in order",
      );

      ac.abort();
      await assert.rejects(done, { name: "AbortError" });
    } finally {
      ac.abort();
      await done?.catch(() => {});
      await proxy.close();
    }
  });

  test("authenticates with a ws_token, as a browser does", limit, async () => {
    const inv = await newInvoice("stream-token");
    const [cursor] = (await c.listEvents({ invoice_id: inv.id })).data;
    await c.simulatePayment(inv.id, { amount: "25.00" });

    let minted = 0;
    const keyless = createClient({ baseUrl: settle.baseUrl });
    const ac = new AbortController();
    const got = [];
    for await (const e of keyless.stream({
      after: cursor.id,
      signal: ac.signal,
      wsToken: async () => {
        minted++;
        return (await c.createWSToken()).ws_token;
      },
    })) {
      got.push(e);
      if (e.type === "invoice.updated") {
        break; // closes the connection
      }
    }
    assert.equal(minted, 1);
    assert.equal(got.at(-1).data.object.id, inv.id);
    assert.equal(got.at(-1).data.object.status, "paid");
  });

  test("ends with the server's problem when the key or the cursor is refused", limit, async () => {
    const bad = createClient({ baseUrl: settle.baseUrl, apiKey: "sk_test_notakey" });
    await assert.rejects(drain(bad.stream({ reconnectInitialMs: 10 })), (err) => {
      assert.ok(err instanceof SettleError, String(err));
      assert.equal(err.status, 401);
      assert.equal(err.code, "invalid_api_key");
      return true;
    });
    await assert.rejects(drain(c.stream({ after: "evt_doesnotexist" })), { status: 422, code: "invalid_cursor" });
  });
});

async function drain(it) {
  for await (const _ of it) {
    // nothing
  }
}
