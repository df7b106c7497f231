/**
 * The TypeScript SDK of the settle API: a typed client of every operation
 * in openapi/openapi.yaml (types generated with openapi-typescript,
 * requests with openapi-fetch), helpers for the common calls, webhook
 * verification on the standardwebhooks package, and the merchant WebSocket
 * as an async iterator that resumes by event id.
 */
export { createClient, unwrap } from "./client.js";
export type {
  Api,
  ClientOptions,
  CreateInvoiceParams,
  CreateWebhookEndpointParams,
  Event,
  EventList,
  EventType,
  Invoice,
  InvoiceList,
  InvoiceStatus,
  ListEventsParams,
  ListInvoicesParams,
  RequestOptions,
  RetryPolicy,
  SettleClient,
  SimulatedPayment,
  SimulatePaymentParams,
  WebhookEndpoint,
  WSToken,
} from "./client.js";
export { SettleError, type Problem } from "./error.js";
export type { StreamOptions } from "./stream.js";
export { InvalidWebhookError, verifyWebhook, type WebhookHeaders } from "./webhook.js";
export type { components, operations, paths } from "./schema.js";
