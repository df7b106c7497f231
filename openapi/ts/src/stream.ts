import type { Event } from "./client.js";
import { jitter, sleep } from "./client.js";
import { SettleError, transient } from "./error.js";

/** Options of {@link SettleClient.stream}; every field is optional. */
export interface StreamOptions {
  /**
   * The id of the last event you have: every later event is got from the
   * store first, so nothing is missed since then. Without it, events from
   * the moment of connection.
   */
  after?: string;
  /** Ends the stream: the iteration throws the signal's reason. */
  signal?: AbortSignal;
  /**
   * Returns a ws_token for each connection (single use), e.g. from your
   * backend, which mints it with createWSToken. For browsers, which cannot
   * send an Authorization header on a WebSocket and should never hold the
   * API key. Without it, node sends the key as a header, and other
   * runtimes mint a token with the key before each connection.
   */
  wsToken?: () => Promise<string>;
  /**
   * Bounds of the backoff between reconnections (default 250 ms growing to
   * 30 s); it starts again from the first once a connection has delivered
   * an event.
   */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /**
   * How often {"type":"ping"} is sent (default 25 s); a connection on which
   * nothing, not even the pong, has come for idleTimeoutMs (default 65 s)
   * is dropped and made again.
   */
  pingIntervalMs?: number;
  idleTimeoutMs?: number;
  /** How many delivered ids are kept to drop duplicates (default 10,000). */
  remember?: number;
  /** Called after each lost connection with why and how long the stream waits before the next; for logs and tests. */
  onDisconnect?: (reason: unknown, waitMs: number) => void;
}

/** What a stream connects to; made by createClient. */
export interface StreamTarget {
  baseUrl: string;
  apiKey?: string;
  createWSToken: () => Promise<string>;
}

const wsPath = "/api/v1/ws";

/**
 * stream follows the merchant WebSocket (GET /api/v1/ws) and yields each
 * event of the key's merchant and mode, in sequence order. A lost
 * connection is made again with backoff, resuming after the last event
 * yielded, and an event whose id was already yielded is dropped: the loop
 * sees each event once, with no gap. (Without `after`, a connection lost
 * before the first event cannot resume and resumes live.) It ends by
 * throwing when the signal aborts, or when the server refuses the
 * connection for good (a bad key, an unknown cursor: a SettleError).
 * Breaking out of the loop closes the connection.
 */
export async function* stream(target: StreamTarget, opts: StreamOptions): AsyncGenerator<Event, void> {
  const cfg = {
    reconnectInitialMs: opts.reconnectInitialMs ?? 250,
    reconnectMaxMs: opts.reconnectMaxMs ?? 30_000,
    pingIntervalMs: opts.pingIntervalMs ?? 25_000,
    idleTimeoutMs: opts.idleTimeoutMs ?? 65_000,
    remember: opts.remember ?? 10_000,
  };
  if (!opts.wsToken && !target.apiKey) {
    throw new TypeError("stream: no apiKey and no wsToken to authenticate the WebSocket");
  }
  const signal = opts.signal;
  const seen = new IdWindow(cfg.remember);
  let after = opts.after ?? "";
  let wait = cfg.reconnectInitialMs;
  for (;;) {
    signal?.throwIfAborted();
    let delivered = 0;
    let reason: unknown;
    let conn: Connection | undefined;
    try {
      conn = await dial(target, opts, after, cfg.idleTimeoutMs, signal);
      conn.keepAlive(cfg.pingIntervalMs, cfg.idleTimeoutMs);
      for (;;) {
        const e = await conn.next();
        if (!seen.add(e.id)) {
          continue; // already yielded
        }
        after = e.id;
        delivered++;
        yield e;
      }
    } catch (err) {
      reason = err;
    } finally {
      conn?.close();
    }
    signal?.throwIfAborted();
    if (reason instanceof SettleError && !transient(reason.status) && reason.status !== 408) {
      throw reason;
    }
    if (delivered > 0) {
      wait = cfg.reconnectInitialMs;
    }
    let w = jitter(wait);
    if (reason instanceof SettleError && reason.retryAfterMs > w) {
      w = reason.retryAfterMs;
    }
    opts.onDisconnect?.(reason, w);
    await sleep(w, signal);
    wait = Math.min(wait * 2, cfg.reconnectMaxMs);
  }
}

/** The part of a WebSocket (the browser's, or the ws package's) a connection uses. */
interface Socket {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (ev: any) => void): void;
}

const isNode = typeof process !== "undefined" && typeof process.versions?.node === "string";

// dial opens one connection: in node with the key as a header, elsewhere
// with a ws_token in the query.
async function dial(target: StreamTarget, opts: StreamOptions, after: string, timeoutMs: number, signal?: AbortSignal): Promise<Connection> {
  const url = new URL(target.baseUrl.replace(/^http/, "ws") + wsPath);
  if (after) {
    url.searchParams.set("after", after);
  }
  let headers: Record<string, string> | undefined;
  if (opts.wsToken) {
    url.searchParams.set("ws_token", await opts.wsToken());
  } else if (isNode && target.apiKey) {
    headers = { Authorization: `Bearer ${target.apiKey}` };
  } else {
    url.searchParams.set("ws_token", await target.createWSToken());
  }
  signal?.throwIfAborted();
  // The standard WebSocket (browsers, node 22 and later) when no header is
  // needed; in node without it, or to send the key as a header, the ws package.
  const Standard = (globalThis as { WebSocket?: new (url: URL) => Socket }).WebSocket;
  if (!headers && typeof Standard === "function") {
    return new Connection(new Standard(url)).opened(timeoutMs, signal, {});
  }
  const { default: NodeWebSocket } = await import("ws");
  const ws = new NodeWebSocket(url, { headers, handshakeTimeout: timeoutMs, maxPayload: 1 << 20 });
  // A refused handshake answers with a problem: read it, so that a bad key
  // or cursor ends the stream instead of being retried forever.
  const refusal: Refusal = {};
  refusal.problem = new Promise((resolve) => {
    ws.on("unexpected-response", (_req, res) => {
      refusal.coming = true;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: kept as text
        }
        const h = { get: (n: string) => (res.headers[n.toLowerCase()] as string | undefined) ?? null };
        resolve(SettleError.fromAnswer({ status: res.statusCode ?? 0, statusText: res.statusMessage, headers: h }, body));
        ws.terminate();
      });
    });
  });
  ws.on("error", () => {}); // reported through close
  const conn = new Connection(ws as unknown as Socket);
  ws.on("ping", () => conn.touch());
  ws.on("pong", () => conn.touch());
  return conn.opened(timeoutMs, signal, refusal);
}

/** Refusal is a handshake answered with a problem instead of an upgrade. */
interface Refusal {
  problem?: Promise<SettleError>;
  coming?: boolean; // the answer came; its body is being read
}

/** Connection holds one WebSocket and queues its events for the stream. */
class Connection {
  private queue: Event[] = [];
  private waiter: { resolve: (e: Event) => void; reject: (err: unknown) => void } | undefined;
  private failure: unknown;
  private failed = false;
  private cleanups: (() => void)[] = [];
  private idle: ReturnType<typeof setTimeout> | undefined;
  private idleMs = 0;
  private openWaiter: (() => void) | undefined;

  constructor(private readonly socket: Socket) {
    socket.addEventListener("open", () => this.openWaiter?.());
    socket.addEventListener("message", (ev: { data: unknown }) => this.message(ev.data));
    socket.addEventListener("close", (ev: { code: number; reason: unknown }) =>
      this.fail(new Error(`websocket closed: ${ev.code}${ev.reason ? ` ${String(ev.reason)}` : ""}`)),
    );
    socket.addEventListener("error", (ev: { error?: unknown; message?: string }) =>
      this.fail(ev.error ?? new Error(`websocket: ${ev.message ?? "error"}`)),
    );
  }

  // opened resolves once the handshake is done, or rejects with why not.
  opened(timeoutMs: number, signal: AbortSignal | undefined, refusal: Refusal): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const done = (err?: unknown) => {
        clearTimeout(t);
        signal?.removeEventListener("abort", onAbort);
        this.onFailure = undefined;
        if (err === undefined) {
          resolve(this);
        } else {
          this.close();
          reject(err);
        }
      };
      const onAbort = () => done(signal?.reason);
      const t = setTimeout(() => done(new Error("websocket: handshake timed out")), timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.openWaiter = () => {
        if (signal) {
          const abort = () => this.fail(signal.reason);
          signal.addEventListener("abort", abort, { once: true });
          this.cleanups.push(() => signal.removeEventListener("abort", abort));
        }
        done();
      };
      refusal.problem?.then((e) => done(e));
      // A failure before open (refused by the network, closed) ends the dial,
      // unless a refused handshake's problem is being read: that wins.
      this.onFailure = (err) => {
        if (!refusal.coming) {
          done(err);
        }
      };
    });
  }

  private onFailure: ((err: unknown) => void) | undefined;

  keepAlive(pingMs: number, idleMs: number): void {
    this.idleMs = idleMs;
    this.touch();
    const t = setInterval(() => {
      if (this.socket.readyState === 1) {
        this.socket.send('{"type":"ping"}');
      }
    }, pingMs);
    this.cleanups.push(() => clearInterval(t));
  }

  // touch records that the server is alive.
  touch(): void {
    if (this.idleMs <= 0) {
      return;
    }
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.fail(new Error(`websocket: nothing for ${this.idleMs} ms`)), this.idleMs);
  }

  next(): Promise<Event> {
    const e = this.queue.shift();
    if (e) {
      return Promise.resolve(e);
    }
    if (this.failed) {
      return Promise.reject(this.failure);
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  close(): void {
    for (const c of this.cleanups.splice(0)) {
      c();
    }
    clearTimeout(this.idle);
    this.idleMs = 0;
    this.fail(new Error("websocket: closed by the client"));
    if (this.socket.readyState === 0 || this.socket.readyState === 1) {
      try {
        this.socket.close(1000);
      } catch {
        // closing a socket still connecting may throw; it is dropped anyway
      }
    }
  }

  private message(data: unknown): void {
    this.touch();
    let text: string;
    if (typeof data === "string") {
      text = data;
    } else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
      text = new TextDecoder().decode(data as ArrayBuffer);
    } else {
      return; // a Blob: the server sends text frames only
    }
    let m: { type?: string; event?: Event };
    try {
      m = JSON.parse(text);
    } catch (err) {
      this.fail(new Error(`websocket: message ${text.slice(0, 100)}: ${(err as Error).message}`));
      return;
    }
    if (m.type !== "event" || !m.event) {
      return; // a pong, or a message type this client does not know
    }
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(m.event);
    } else {
      this.queue.push(m.event);
    }
  }

  private fail(err: unknown): void {
    if (this.failed) {
      return;
    }
    this.failed = true;
    this.failure = err;
    this.onFailure?.(err);
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.reject(err);
    }
  }
}

/** IdWindow remembers the last n ids added. */
class IdWindow {
  private readonly ids = new Set<string>();
  constructor(private readonly n: number) {}

  /** add records id and reports whether it was new. */
  add(id: string): boolean {
    if (this.ids.has(id)) {
      return false;
    }
    this.ids.add(id);
    if (this.ids.size > this.n) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) {
        this.ids.delete(oldest);
      }
    }
    return true;
  }
}
