import type { components } from "./schema.js";

/** Problem is the RFC 9457 problem details the server answers every error with. */
export type Problem = components["schemas"]["Problem"];

/**
 * SettleError is a non-2xx answer: branch on `code` ("invalid_amount",
 * "not_found", …), which is stable, not on the text.
 */
export class SettleError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problem: Problem;
  /** The wait the server asked for with Retry-After (429, 503), in ms; 0 when none. */
  readonly retryAfterMs: number;

  constructor(status: number, problem: Problem, retryAfterMs = 0) {
    super(`settle: ${status} ${problem.code || problem.title}${problem.detail ? `: ${problem.detail}` : ""}`);
    this.name = "SettleError";
    this.status = status;
    this.code = problem.code;
    this.problem = problem;
    this.retryAfterMs = retryAfterMs;
  }

  /** fromAnswer makes the error of a response whose body (parsed when JSON) is body. */
  static fromAnswer(res: { status: number; statusText?: string; headers: { get(name: string): string | null } }, body: unknown): SettleError {
    let problem: Problem;
    if (body && typeof body === "object" && typeof (body as Problem).code === "string") {
      problem = body as Problem;
    } else {
      // Not a problem: a proxy's page, say. Keep its start as the detail.
      const text = typeof body === "string" ? body.slice(0, 200) : "";
      problem = { type: "about:blank", title: res.statusText || `HTTP ${res.status}`, status: res.status, code: "", detail: text || undefined };
    }
    const ra = res.headers.get("Retry-After");
    const ms = ra && /^\s*\d+\s*$/.test(ra) ? Number(ra) * 1000 : 0;
    return new SettleError(res.status, problem, ms);
  }
}

/** transient reports whether an answer of this status may succeed later. */
export function transient(status: number): boolean {
  return status === 429 || status >= 500;
}
