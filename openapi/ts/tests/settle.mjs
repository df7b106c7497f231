// Helpers of the tests: a real `settle serve` on SQLite with a merchant and
// its test key, a TCP proxy that can cut connections, and a webhook receiver.
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

// settleBinary is the binary the Go test built (SETTLE_TEST_BIN), or one
// built here from the repository.
async function settleBinary(dir) {
  if (process.env.SETTLE_TEST_BIN) {
    return process.env.SETTLE_TEST_BIN;
  }
  const bin = join(dir, "settle");
  await run("go", ["build", "-o", bin, "./cmd/settle"], { cwd: repoRoot });
  return bin;
}

/**
 * startSettle creates a merchant the way the README's quick start does
 * (`settle merchants create`), then runs `settle serve` on a fresh SQLite
 * file and a free loopback port. Webhook endpoints may be on loopback.
 */
export async function startSettle() {
  const dir = await mkdtemp(join(tmpdir(), "settle-ts-"));
  const bin = await settleBinary(dir);
  const db = `sqlite://${join(dir, "settle.db")}`;
  const { stdout } = await run(bin, ["merchants", "create", "--name", "TypeScript SDK", "--database-url", db]);
  const merchant = JSON.parse(stdout);
  const proc = spawn(bin, ["serve", "--addr", "127.0.0.1:0", "--database-url", db, "--expire-interval", "1s"], {
    env: { ...process.env, SETTLE_WEBHOOK_ALLOW_PRIVATE: "true" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const logs = [];
  const addr = await new Promise((resolveAddr, reject) => {
    const timer = setTimeout(() => reject(new Error(`settle serve did not start:\n${logs.join("\n")}`)), 60_000);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`settle serve exited with ${code}:\n${logs.join("\n")}`));
    });
    createInterface({ input: proc.stderr }).on("line", (line) => {
      logs.push(line);
      try {
        const m = JSON.parse(line);
        if (m.msg === "settle serving") {
          clearTimeout(timer);
          resolveAddr(m.addr);
        }
      } catch {
        // not a log line
      }
    });
  });
  return {
    baseUrl: `http://${addr}`,
    port: Number(addr.split(":").pop()),
    apiKey: merchant.test_api_key,
    merchantId: merchant.merchant_id,
    logs: () => logs.join("\n"),
    async stop() {
      proc.removeAllListeners("exit");
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * startProxy forwards TCP connections to port on loopback. cut() drops
 * every connection; refuse(true) drops new ones at once until refuse(false).
 */
export async function startProxy(port) {
  const conns = new Set();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(port, "127.0.0.1");
    const pair = [client, upstream];
    conns.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      conns.delete(pair);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut() {
      for (const [a, b] of conns) {
        a.destroy();
        b.destroy();
      }
      conns.clear();
    },
    refuse(on) {
      refusing = on;
    },
    close() {
      this.cut();
      return new Promise((r) => server.close(r));
    },
  };
}

/** startReceiver is a webhook endpoint on loopback that keeps every request's headers and raw body. */
export async function startReceiver() {
  const received = [];
  const waiters = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(204).end();
      for (const w of waiters.splice(0)) {
        w();
      }
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}/hooks`,
    received,
    /** waitFor resolves with the first request for which pred holds. */
    async waitFor(pred, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = received.find(pred);
        if (r) {
          return r;
        }
        if (Date.now() > deadline) {
          throw new Error(`no such webhook within ${timeoutMs} ms; got ${received.length}`);
        }
        await new Promise((res) => {
          waiters.push(res);
          setTimeout(res, 200);
        });
      }
    },
    close() {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}

/** eventually polls fn until it returns a truthy value. */
export async function eventually(fn, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) {
      return v;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
