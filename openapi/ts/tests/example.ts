// The README's example, type-checked and run against a real server by
// example.test.mjs; typed() below must not compile with the mistakes marked.
import { createClient, SettleError, verifyWebhook, type Event } from "../dist/index.js";

/** example creates an invoice, pays it in the sandbox and follows the stream until it is paid. */
export async function example(baseUrl: string, apiKey: string): Promise<string[]> {
  const lines: string[] = [];
  const settle = createClient({ baseUrl, apiKey });
  const inv = await settle.createInvoice(
    { amount: "25.00", currency: "USD", merchant_order_id: "order-1042" },
    { idempotencyKey: "order-1042" },
  );
  lines.push(`${inv.id} ${inv.status} ${inv.amount_due} ${inv.currency}`);
  await settle.simulatePayment(inv.id, { amount: "25.00" }); // test mode: the sandbox pays it

  let lastEventId = ""; // kept between runs
  for await (const ev of settle.events(lastEventId, { invoice_id: inv.id })) {
    lines.push(`recovered ${ev.type}`);
    lastEventId = ev.id;
  }
  const [created] = (await settle.listEvents({ invoice_id: inv.id, limit: 1 })).data;
  for await (const ev of settle.stream({ after: created?.id })) {
    lines.push(`streamed ${ev.type}`);
    if (ev.type === "invoice.updated" && (ev.data as { object: { status: string } }).object.status === "paid") {
      break;
    }
  }
  try {
    await settle.createInvoice({ amount: "1.234", currency: "USD" });
  } catch (err) {
    if (err instanceof SettleError) {
      lines.push(`refused ${err.status} ${err.code}`);
    }
  }
  return lines;
}

/** handle is a webhook handler's core: verify, then act once per event id. */
export function handle(secret: string, rawBody: string, headers: Record<string, string>): Event {
  return verifyWebhook(secret, rawBody, headers);
}

// typed is never called: each @ts-expect-error must be an error, or the build fails.
export async function typed(): Promise<void> {
  const settle = createClient({ baseUrl: "http://localhost:8080", apiKey: "sk_test_x" });
  // @ts-expect-error: amounts are decimal strings, never numbers
  await settle.createInvoice({ amount: 25, currency: "USD" });
  // @ts-expect-error: an unknown currency
  await settle.createInvoice({ amount: "25.00", currency: "XXX" });
  // @ts-expect-error: an unknown event type
  await settle.listEvents({ type: "invoice.paid" });
  // @ts-expect-error: a path the spec does not have
  await settle.api.GET("/api/v1/nothing");
  const inv = await settle.getInvoice("inv_x");
  // @ts-expect-error: a status the spec does not have
  if (inv.status === "settled") {
    return;
  }
  const { data } = await settle.api.GET("/api/v1/invoices/{id}/payments", { params: { path: { id: inv.id } } });
  const paid: string | undefined = data?.data[0]?.amount;
  void paid;
}
