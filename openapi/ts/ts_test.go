package ts

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestTypeScriptSDK builds settle, installs the SDK's pinned dependencies
// when node_modules is missing (npm ci), and runs `npm test`: the type
// check and build, the staleness check of src/schema.ts against
// ../openapi.yaml, and the tests against a real `settle serve` on SQLite.
// Without node 20 or later it is skipped, unless SETTLE_REQUIRE_NODE=1
// makes that a failure (as .ci/run does).
func TestTypeScriptSDK(t *testing.T) {
	t.Parallel()
	npm := requireNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	bin := filepath.Join(t.TempDir(), "settle")
	run(t, ctx, exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/settlepay/settle/cmd/settle"))

	// npm leaves node_modules/.package-lock.json only after a complete install.
	if _, err := os.Stat(filepath.Join("node_modules", ".package-lock.json")); err != nil {
		run(t, ctx, exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"))
	}
	cmd := exec.CommandContext(ctx, npm, "test", "--silent")
	cmd.Env = append(os.Environ(), "SETTLE_TEST_BIN="+bin)
	out := run(t, ctx, cmd)
	t.Logf("npm test:\n%s", summary(out))
}

// requireNode returns npm's path, or skips (fails under
// SETTLE_REQUIRE_NODE=1) when node 20 or later and npm are not there.
func requireNode(t *testing.T) string {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("SETTLE_REQUIRE_NODE") == "1" {
			t.Fatalf("%s; SETTLE_REQUIRE_NODE=1 requires node 20 or later with npm", why)
		}
		t.Skipf("%s: the TypeScript SDK's tests need node 20 or later with npm (SETTLE_REQUIRE_NODE=1 makes this a failure)", why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not found")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		missing("npm not found")
	}
	v, err := exec.Command(node, "--version").Output()
	if err != nil {
		missing("node --version: " + err.Error())
	}
	m := regexp.MustCompile(`^v(\d+)\.`).FindSubmatch(bytes.TrimSpace(v))
	if m == nil {
		missing("node --version printed " + string(v))
	}
	if major, _ := strconv.Atoi(string(m[1])); major < 20 {
		missing("node " + string(bytes.TrimSpace(v)) + " is too old")
	}
	return npm
}

// run runs cmd in this folder and fails the test with its output if it fails.
func run(t *testing.T, ctx context.Context, cmd *exec.Cmd) []byte {
	t.Helper()
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, "npm_config_update_notifier=false", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return out
}

// summary is the end of node's test report: its counts and duration.
func summary(out []byte) []byte {
	if i := bytes.LastIndex(out, []byte("ℹ tests ")); i >= 0 {
		return out[i:]
	}
	return out
}
