// src/schema.ts must be what openapi-typescript makes of the checked-in
// spec today: regenerate with `npm run generate` when this fails.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");

test("src/schema.ts is generated from the current openapi.yaml", async () => {
  const manifest = JSON.parse(await readFile(join(pkg, "package.json"), "utf8"));
  const out = await mkdtemp(join(tmpdir(), "settle-ts-schema-"));
  try {
    // The generate script, with the output in a temporary folder.
    const args = manifest.scripts.generate.split(/\s+/);
    assert.equal(args[0], "openapi-typescript");
    const i = args.indexOf("--output");
    assert.equal(args[i + 1], "src/schema.ts");
    args[i + 1] = join(out, "schema.ts");
    await promisify(execFile)(process.execPath, [join(pkg, "node_modules/openapi-typescript/bin/cli.js"), ...args.slice(1)], { cwd: pkg });
    const fresh = await readFile(join(out, "schema.ts"), "utf8");
    const committed = await readFile(join(pkg, "src/schema.ts"), "utf8");
    assert.ok(fresh.length > 1000, "the generator wrote a schema");
    if (fresh !== committed) {
      assert.fail("src/schema.ts is stale: run `npm --prefix openapi/ts run generate` and commit it");
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
