import createFetchClient, { type Client as FetchClient } from "openapi-fetch";
import type { components, operations, paths } from "./schema.js";
import { SettleError, transient, type Problem } from "./error.js";
import { stream, type StreamOptions } from "./stream.js";

type Schemas = components["schemas"];

/** An invoice (the spec's InvoiceObject). Money is a decimal string, never a number. */
export type Invoice = Schemas["InvoiceObject"];
/** The body of create-invoice. */
export type CreateInvoiceParams = Schemas["CreateInvoiceBody"];
/** One page of invoices, newest first. */
export type InvoiceList = Schemas["InvoiceList"];
/** The query of list-invoices. */
export type ListInvoicesParams = NonNullable<operations["list-invoices"]["parameters"]["query"]>;
/** An invoice's status, amounts paid and due. */
export type InvoiceStatus = Schemas["InvoiceStatus"];
/** One change; the same event (same id) may come by webhook, WebSocket and the events list. */
export type Event = Schemas["Event"];
/** One page of the recovery feed, oldest first. */
export type EventList = Schemas["EventList"];
/** The query of list-events. */
export type ListEventsParams = NonNullable<operations["list-events"]["parameters"]["query"]>;
/** An event type, such as "invoice.updated". */
export type EventType = NonNullable<ListEventsParams["type"]>;
/** The body of simulate-payment (test keys only). */
export type SimulatePaymentParams = Schemas["SimulatePaymentBody"];
/** The answer of simulate-payment: the payment and the invoice after it. */
export type SimulatedPayment = Schemas["SimulatedPayment"];
/** A webhook endpoint; `secret` (whsec_…) is present on create and rotate only. */
export type WebhookEndpoint = Schemas["EndpointObject"];
/** The body of create-webhook-endpoint. */
export type CreateWebhookEndpointParams = Schemas["CreateWebhookEndpointBody"];
/** A single-use credential for the merchant WebSocket, for a browser. */
export type WSToken = Schemas["WSToken"];

/** The low-level openapi-fetch client: every operation of the spec, typed. */
export type Api = FetchClient<paths>;

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** The server, e.g. "https://pay.example.com", without /api/v1. */
  baseUrl: string;
  /** sk_test_… or sk_live_…; leave it out in a browser (see {@link StreamOptions.wsToken}). */
  apiKey?: string;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof globalThis.fetch;
  /** Retries of idempotent requests; see {@link RetryPolicy}. */
  retry?: RetryPolicy;
}

/**
 * RetryPolicy bounds the retries of idempotent requests (GETs and POSTs that
 * carry an Idempotency-Key, which every merchant POST does): on network
 * errors, 429 and 5xx answers, with exponential backoff from initialMs up to
 * maxMs, or the server's Retry-After when longer (up to maxRetryAfterMs).
 */
export interface RetryPolicy {
  maxRetries?: number; // default 4; 0 for none
  initialMs?: number; // default 250
  maxMs?: number; // default 5000
  maxRetryAfterMs?: number; // default 60000
}

/** Per-request options of the POST helpers. */
export interface RequestOptions {
  /**
   * Sent as Idempotency-Key, e.g. your order id: a retry with the same key
   * and body, even from another process, gets the first answer again.
   * Without it the client makes one up per call, which makes its own
   * retries safe.
   */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

/** A client of one settle server with one API key; see {@link createClient}. */
export interface SettleClient {
  /** Every operation of the spec through openapi-fetch, for what the helpers do not cover. */
  readonly api: Api;
  readonly baseUrl: string;
  createInvoice(params: CreateInvoiceParams, opts?: RequestOptions): Promise<Invoice>;
  getInvoice(id: string, opts?: { signal?: AbortSignal }): Promise<Invoice>;
  getInvoiceStatus(id: string, opts?: { signal?: AbortSignal }): Promise<InvoiceStatus>;
  listInvoices(params?: ListInvoicesParams, opts?: { signal?: AbortSignal }): Promise<InvoiceList>;
  cancelInvoice(id: string, opts?: RequestOptions): Promise<Invoice>;
  /** Applies a sandbox (or any test method's) payment to a test invoice. Test keys only. */
  simulatePayment(id: string, params: SimulatePaymentParams, opts?: RequestOptions): Promise<SimulatedPayment>;
  /** One page of the recovery feed, in sequence order. */
  listEvents(params?: ListEventsParams, opts?: { signal?: AbortSignal }): Promise<EventList>;
  getEvent(id: string, opts?: { signal?: AbortSignal }): Promise<Event>;
  /**
   * Walks the recovery feed from the event after `after` (from the oldest
   * when empty) to the newest, page by page, in sequence order. Keep the id
   * of the last event you processed and pass it next time.
   */
  events(after?: string, params?: Omit<ListEventsParams, "after">, opts?: { signal?: AbortSignal }): AsyncGenerator<Event, void>;
  createWebhookEndpoint(params: CreateWebhookEndpointParams, opts?: RequestOptions): Promise<WebhookEndpoint>;
  /** A token good for one merchant WebSocket within 5 minutes, to hand to a browser instead of the key. */
  createWSToken(opts?: RequestOptions): Promise<WSToken>;
  /**
   * Follows the merchant WebSocket: every event of the key's merchant and
   * mode, in sequence order, resuming after the last one on reconnection.
   */
  stream(opts?: StreamOptions): AsyncGenerator<Event, void>;
}

/**
 * createClient returns a client of the settle server at baseUrl,
 * authenticated with apiKey. Errors are thrown as {@link SettleError},
 * carrying the problem's stable `code`.
 */
export function createClient(options: ClientOptions): SettleClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const u = new URL(baseUrl); // throws on a base URL that does not parse
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new TypeError(`base URL ${options.baseUrl}: want http or https`);
  }
  const apiKey = options.apiKey;
  const api = createFetchClient<paths>({
    baseUrl,
    fetch: retryingFetch(options.fetch ?? ((input, init) => globalThis.fetch(input, init)), options.retry ?? {}),
    headers: apiKey ? { Authorization: `Bearer ${apiKey}` } : {},
  });
  api.use({
    onRequest({ request }) {
      if (request.method === "POST" && keyedPath(new URL(request.url).pathname) && !request.headers.has("Idempotency-Key")) {
        request.headers.set("Idempotency-Key", newIdempotencyKey());
      }
      return request;
    },
  });
  const idem = (opts?: RequestOptions) => (opts?.idempotencyKey ? { "Idempotency-Key": opts.idempotencyKey } : {});

  const client: SettleClient = {
    api,
    baseUrl,
    async createInvoice(params, opts) {
      return unwrap(await api.POST("/api/v1/invoices", { body: params, headers: idem(opts), signal: opts?.signal }));
    },
    async getInvoice(id, opts) {
      return unwrap(await api.GET("/api/v1/invoices/{id}", { params: { path: { id } }, signal: opts?.signal }));
    },
    async getInvoiceStatus(id, opts) {
      return unwrap(await api.GET("/api/v1/invoices/{id}/status", { params: { path: { id } }, signal: opts?.signal }));
    },
    async listInvoices(params, opts) {
      return unwrap(await api.GET("/api/v1/invoices", { params: { query: params ?? {} }, signal: opts?.signal }));
    },
    async cancelInvoice(id, opts) {
      return unwrap(await api.POST("/api/v1/invoices/{id}/cancel", { params: { path: { id } }, headers: idem(opts), signal: opts?.signal }));
    },
    async simulatePayment(id, params, opts) {
      return unwrap(
        await api.POST("/api/v1/test/invoices/{id}/simulate-payment", {
          params: { path: { id } },
          body: params,
          headers: idem(opts),
          signal: opts?.signal,
        }),
      );
    },
    async listEvents(params, opts) {
      return unwrap(await api.GET("/api/v1/events", { params: { query: params ?? {} }, signal: opts?.signal }));
    },
    async getEvent(id, opts) {
      return unwrap(await api.GET("/api/v1/events/{id}", { params: { path: { id } }, signal: opts?.signal }));
    },
    async *events(after, params, opts) {
      let cursor = after || undefined;
      for (;;) {
        const page = await client.listEvents({ limit: 100, ...params, after: cursor }, opts);
        for (const e of page.data) {
          yield e;
          cursor = e.id;
        }
        if (!page.has_more || page.data.length === 0) {
          return;
        }
      }
    },
    async createWebhookEndpoint(params, opts) {
      return unwrap(await api.POST("/api/v1/webhook-endpoints", { body: params, headers: idem(opts), signal: opts?.signal }));
    },
    async createWSToken(opts) {
      return unwrap(await api.POST("/api/v1/ws-tokens", { headers: idem(opts), signal: opts?.signal }));
    },
    stream(opts) {
      return stream({ baseUrl, apiKey, createWSToken: () => client.createWSToken().then((t) => t.ws_token) }, opts ?? {});
    },
  };
  return client;
}

/** unwrap returns an openapi-fetch answer's data, or throws its problem as a SettleError. */
export function unwrap<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.response.ok && r.data !== undefined) {
    return r.data;
  }
  if (r.response.ok) {
    throw new SettleError(r.response.status, { title: "Empty answer", status: r.response.status, code: "", detail: "the server answered with no body" } as Problem);
  }
  throw SettleError.fromAnswer(r.response, r.error);
}

// keyedPath reports whether a POST to path takes an Idempotency-Key: every
// merchant POST does; the payor's and the rails' (authorised otherwise) do not.
function keyedPath(path: string): boolean {
  return path.startsWith("/api/v1/") && !path.startsWith("/api/v1/payor/") && !path.startsWith("/api/v1/rails/");
}

function newIdempotencyKey(): string {
  return `settle-ts-${globalThis.crypto.randomUUID()}`;
}

// retryingFetch wraps fetch with the retries of RetryPolicy. A request is
// retried only when it is idempotent: a GET, or one carrying an
// Idempotency-Key.
function retryingFetch(base: typeof globalThis.fetch, p: RetryPolicy): typeof globalThis.fetch {
  const maxRetries = p.maxRetries ?? 4;
  const initial = p.initialMs ?? 250;
  const max = p.maxMs ?? 5000;
  const maxRetryAfter = p.maxRetryAfterMs ?? 60_000;
  return async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const idempotent = request.method === "GET" || request.headers.has("Idempotency-Key");
    let wait = initial;
    for (let attempt = 0; ; attempt++) {
      const last = !idempotent || attempt >= maxRetries;
      let res: Response;
      try {
        res = await base(last ? request : request.clone(), input instanceof Request ? init : undefined);
      } catch (err) {
        if (last || request.signal.aborted) {
          throw err;
        }
        await sleep(jitter(wait), request.signal);
        wait = Math.min(wait * 2, max);
        continue;
      }
      if (last || !transient(res.status)) {
        return res;
      }
      let delay = jitter(wait);
      const ra = retryAfterMs(res.headers.get("Retry-After"));
      if (ra > delay) {
        delay = Math.min(ra, maxRetryAfter);
      }
      await res.body?.cancel();
      await sleep(delay, request.signal);
      wait = Math.min(wait * 2, max);
    }
  };
}

/** retryAfterMs reads a Retry-After of seconds or an HTTP date; 0 when absent. */
export function retryAfterMs(v: string | null): number {
  if (!v) {
    return 0;
  }
  if (/^\s*\d+\s*$/.test(v)) {
    return Number(v) * 1000;
  }
  const t = Date.parse(v);
  return Number.isNaN(t) ? 0 : Math.max(t - Date.now(), 0);
}

/** jitter spreads a wait by ±20 %. */
export function jitter(ms: number): number {
  return ms * (0.8 + 0.4 * Math.random());
}

/** sleep waits ms or until signal aborts, rejecting with its reason. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
