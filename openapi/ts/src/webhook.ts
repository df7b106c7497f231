import { Webhook, WebhookVerificationError } from "standardwebhooks";
import type { Event } from "./client.js";

/**
 * The headers of a delivery as any server framework gives them: a fetch
 * Headers, node's IncomingHttpHeaders (lower-case names, values maybe
 * arrays), or a plain record.
 */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

/**
 * InvalidWebhookError is thrown by {@link verifyWebhook} when the request is
 * not an authentic delivery: answer it with 400 and ignore it.
 */
export class InvalidWebhookError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`invalid webhook: ${message}`, options);
    this.name = "InvalidWebhookError";
  }
}

/**
 * verifyWebhook checks a webhook delivery's Standard Webhooks signature
 * (webhook-id, webhook-timestamp within 5 minutes of now,
 * webhook-signature) under the endpoint's secret (whsec_…), then returns the
 * event. Pass the body exactly as received (a string or the raw bytes),
 * before any JSON parsing. The event's id is the webhook-id, the same in
 * every attempt: de-duplicate by it.
 */
export function verifyWebhook(secret: string, body: string | Uint8Array, headers: WebhookHeaders): Event {
  const wh = new Webhook(secret); // throws on a secret that is not whsec_ + base64
  const h = {
    "webhook-id": header(headers, "webhook-id"),
    "webhook-timestamp": header(headers, "webhook-timestamp"),
    "webhook-signature": header(headers, "webhook-signature"),
  };
  let payload: unknown;
  try {
    payload = wh.verify(body, h);
  } catch (err) {
    if (err instanceof WebhookVerificationError) {
      throw new InvalidWebhookError(err.message, { cause: err });
    }
    throw new InvalidWebhookError(`body: ${(err as Error).message}`, { cause: err });
  }
  const e = payload as Event | null;
  if (!e || typeof e !== "object" || typeof e.id !== "string" || typeof e.type !== "string") {
    throw new InvalidWebhookError("the body is not an event");
  }
  if (e.id !== h["webhook-id"]) {
    throw new InvalidWebhookError(`event ${JSON.stringify(e.id)} under webhook-id ${JSON.stringify(h["webhook-id"])}`);
  }
  return e;
}

function header(headers: WebhookHeaders, name: string): string {
  if (typeof (headers as Headers).get === "function") {
    return (headers as Headers).get(name) ?? "";
  }
  const rec = headers as Record<string, string | string[] | undefined>;
  let v = rec[name];
  if (v === undefined) {
    const key = Object.keys(rec).find((k) => k.toLowerCase() === name);
    v = key === undefined ? undefined : rec[key];
  }
  return Array.isArray(v) ? (v[0] ?? "") : (v ?? "");
}
