package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestWebhookAllowPrivateSetting: private webhook addresses are refused
// unless the operator opts in, by variable or flag (the flag wins).
func TestWebhookAllowPrivateSetting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  string
		args []string
		want bool
	}{
		{"", nil, false},
		{"true", nil, true},
		{"1", nil, true},
		{"", []string{"--webhook-allow-private"}, true},
		{"true", []string{"--webhook-allow-private=false"}, false},
	} {
		m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string {
			if k == "SETTLE_WEBHOOK_ALLOW_PRIVATE" {
				return tc.env
			}
			return ""
		}}
		var c Config
		fs := newFlagSet("serve", io.Discard)
		if err := m.flags(fs, &c); err != nil {
			t.Fatal(err)
		}
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if got := c.Webhooks.AllowPrivateAddresses; got != tc.want {
			t.Errorf("SETTLE_WEBHOOK_ALLOW_PRIVATE=%q %v: AllowPrivateAddresses %v, want %v", tc.env, tc.args, got, tc.want)
		}
	}
}

// TestREADMEConfigurationTable: every setting of `settle serve` has its row
// in the README's configuration table, with its variable, flag and default.
func TestREADMEConfigurationTable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		row := "| `" + s.env + "` | `--" + s.flag + "` | "
		i := strings.Index(string(readme), row)
		if i < 0 {
			t.Errorf("README has no configuration row for %s (--%s)", s.env, s.flag)
			continue
		}
		if s.def != "" && s.env != "SETTLE_DATABASE_URL" && !strings.HasPrefix(string(readme[i+len(row):]), "`"+s.def+"`") {
			t.Errorf("README's row of %s does not give the default %q", s.env, s.def)
		}
	}
}

// TestUnknownVariables: every SETTLE_* variable settle does not know is
// reported at start with the closest known name, as a warning, or as an
// error with --strict-config or SETTLE_STRICT_CONFIG; the variables of the
// tests, the benchmarks and the per-network patterns are known.
func TestUnknownVariables(t *testing.T) {
	t.Parallel()
	known := []string{
		"SETTLE_DATABASE_URL=sqlite://" + filepath.Join(t.TempDir(), "settle.db"),
		"SETTLE_TEST_POSTGRES_URL=postgres://x", "SETTLE_REQUIRE_BROWSER=1", "SETTLE_TEST_ARTIFACTS=/tmp/a",
		"SETTLE_SIM_SEEDS=1", "SETTLE_SIM_STEPS=2", "SETTLE_TEST_AS_BINARY=0",
		"SETTLE_RPC_BASE_SEPOLIA=https://rpc.example", "SETTLE_WS_DEVNET=ws://127.0.0.1:1", "SETTLE_CONFIRMATIONS_SOLANA_DEVNET=confirmed",
		"SETTLE_WS_MAX_PER_IP=10", "SETTLE_STRICT_CONFIG=false", "PATH=/bin", "SETTLEMENT=1",
	}
	wrong := []string{"SETTLE_DATABSE_URL=sqlite://elsewhere.db", "SETTLE_ADRR=:9090", "SETTLE_RPC_BASE_SEPOLA=https://rpc.example",
		"SETTLE_RPC_DOGECHAIN=https://rpc.example", "SETTLE_NOTHING_LIKE_IT=1", "SETTLE_rpc_devnet=http://127.0.0.1:1"}
	want := []string{
		"unknown setting SETTLE_DATABSE_URL; did you mean SETTLE_DATABASE_URL?",
		"unknown setting SETTLE_ADRR; did you mean SETTLE_ADDR?",
		"unknown setting SETTLE_RPC_BASE_SEPOLA; did you mean SETTLE_RPC_BASE_SEPOLIA?",
		"unknown setting SETTLE_RPC_DOGECHAIN: DOGECHAIN is not a network settle watches (SETTLE_RPC_<NETWORK> takes one of ",
		"unknown setting SETTLE_NOTHING_LIKE_IT\n",
		"unknown setting SETTLE_rpc_devnet; did you mean SETTLE_RPC_DEVNET?",
	}
	run := func(environ []string, args ...string) (string, error) {
		var errOut bytes.Buffer
		env := map[string]string{}
		for _, kv := range environ {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		m := &Main{Stdout: io.Discard, Stderr: &errOut, Getenv: func(k string) string { return env[k] },
			Environ: func() []string { return environ }}
		err := m.Run(t.Context(), args)
		return errOut.String(), err
	}

	// Known variables only: nothing to say.
	if stderr, err := run(known, "migrate", "--strict-config"); err != nil || strings.Contains(stderr, "settle:") {
		t.Fatalf("known variables: %v, stderr %q", err, stderr)
	}
	// Unknown ones: warnings, and the command runs.
	stderr, err := run(append(known, wrong...), "migrate")
	if err != nil {
		t.Fatalf("migrate with unknown variables: %v", err)
	}
	for _, w := range want {
		if !strings.Contains(stderr, "settle: warning: "+w) {
			t.Errorf("stderr lacks the warning %q:\n%s", w, stderr)
		}
	}
	if n := strings.Count(stderr, "unknown setting"); n != len(wrong) {
		t.Errorf("%d warnings, want %d:\n%s", n, len(wrong), stderr)
	}
	// Strict, by flag or variable: an error, for every command.
	for _, tc := range []struct {
		env  []string
		args []string
	}{
		{nil, []string{"migrate", "--strict-config"}},
		{nil, []string{"serve", "--strict-config=true"}},
		{nil, []string{"reconcile", "--network", "devnet", "--strict-config"}},
		{[]string{"SETTLE_STRICT_CONFIG=true"}, []string{"devnet"}},
		{[]string{"SETTLE_STRICT_CONFIG=1"}, []string{"merchants", "create", "--name", "x"}},
	} {
		stderr, err := run(append(append(append([]string{}, known...), wrong[:1]...), tc.env...), tc.args...)
		if err == nil || !strings.Contains(err.Error(), "1 unknown SETTLE_* variable refused (--strict-config)") ||
			!strings.Contains(stderr, "settle: error: "+want[0]) {
			t.Errorf("%v %v: %v, stderr %q: want the command refused", tc.env, tc.args, err, stderr)
		}
	}
	if _, err := run([]string{"SETTLE_STRICT_CONFIG=yes"}, "migrate"); err == nil || err.Error() != `SETTLE_STRICT_CONFIG="yes": want true or false` {
		t.Errorf("SETTLE_STRICT_CONFIG=yes: %v", err)
	}

	// As the binary: a warning on stderr, and exit status 2 when strict.
	env := []string{"SETTLE_DATABSE_URL=sqlite://elsewhere.db", "SETTLE_DATABASE_URL=sqlite://" + filepath.Join(t.TempDir(), "b.db")}
	if _, stderr, code := runBinary(t, env, "migrate"); code != 0 || !strings.Contains(stderr, "settle: warning: "+want[0]) {
		t.Errorf("binary: exit status %d, stderr %q", code, stderr)
	}
	if _, stderr, code := runBinary(t, env, "migrate", "--strict-config"); code != 2 || !strings.Contains(stderr, "settle: error: "+want[0]) {
		t.Errorf("binary, strict: exit status %d, stderr %q", code, stderr)
	}
}

// TestKnownVariablesCoverRepository: every SETTLE_* variable named in the
// repository's code, scripts and README is one settle knows, so none of
// them warns; a new one must be added to the settings or otherVariables.
func TestKnownVariablesCoverRepository(t *testing.T) {
	t.Parallel()
	name := regexp.MustCompile(`SETTLE_[A-Z0-9_]*[A-Z0-9]`)
	known := knownVariables()
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" || d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		// This file holds the misspellings on purpose.
		if filepath.Base(path) == "config_test.go" || !(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".sh") ||
			strings.HasSuffix(path, ".md") || strings.HasSuffix(path, ".yaml") || filepath.Base(path) == "run") {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(raw), "\n") {
			if strings.Contains(line, "did you mean") {
				continue // an example of the warning
			}
			for _, n := range name.FindAllString(line, -1) {
				if !slices.Contains(known, n) && !isPatternPrefix(n) {
					t.Errorf("%s:%d: %s is not a variable settle knows (add it to otherVariables in env.go)", path, i+1, n)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// isPatternPrefix reports whether n is a per-network prefix written
// without its network (SETTLE_RPC_<NETWORK> reads as SETTLE_RPC).
func isPatternPrefix(n string) bool {
	for _, p := range networkPrefixes {
		if n+"_" == p {
			return true
		}
	}
	return false
}

// TestSettingForms: a value that does not parse names the variable and the
// form it wants, from the environment and from the command line.
func TestSettingForms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ env, value, want string }{
		{"SETTLE_EXPIRE_INTERVAL", "5", `SETTLE_EXPIRE_INTERVAL="5": want a duration such as 5s or 1m`},
		{"SETTLE_LOG_LEVEL", "verbose", `SETTLE_LOG_LEVEL="verbose": want one of debug, info, warn or error`},
		{"SETTLE_WEBHOOK_WORKERS", "many", `SETTLE_WEBHOOK_WORKERS="many": want a whole number such as 16`},
		{"SETTLE_WEBHOOK_ALLOW_PRIVATE", "yes", `SETTLE_WEBHOOK_ALLOW_PRIVATE="yes": want true or false`},
		{"SETTLE_DATABASE_URL", "mysql://db", `SETTLE_DATABASE_URL="mysql://db": want sqlite://PATH or postgres://`},
		{"SETTLE_PUBLIC_URL", "pay.example.com", `SETTLE_PUBLIC_URL="pay.example.com": want an http(s) URL such as https://pay.example.com`},
		{"SETTLE_ADDR", "8080", `SETTLE_ADDR="8080": want HOST:PORT such as :8080`},
	} {
		// A server that starts (accepting the value) is stopped at once.
		ctx, cancel := context.WithCancel(t.Context())
		m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string {
			if k == tc.env {
				return tc.value
			}
			return ""
		}, Ready: func(string) { cancel() }}
		// The variable is read before the flags, which would win over it.
		err := m.Run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--database-url", "sqlite://" + filepath.Join(t.TempDir(), "s.db")})
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: %v, want %q", tc.env, tc.value, err, tc.want)
		}
	}
	// The same on the command line.
	var errOut bytes.Buffer
	m := &Main{Stdout: io.Discard, Stderr: &errOut, Getenv: func(string) string { return "" }}
	if err := m.Run(t.Context(), []string{"serve", "--expire-interval", "5"}); err == nil ||
		!strings.Contains(errOut.String(), `invalid value "5" for flag -expire-interval: want a duration such as 5s or 1m`) {
		t.Errorf("--expire-interval 5: %v\n%s", err, errOut.String())
	}
}

// runBinary runs this test binary as the settle binary (see TestMain) with
// args, its environment without SETTLE_* variables plus env, and returns
// what it printed and its exit status.
func runBinary(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SETTLE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, asBinaryEnv+"=1"), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	var exit *exec.ExitError
	if err := cmd.Run(); err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// TestAlertEmailSettings refuses half an email setup at start, naming what
// is missing.
func TestAlertEmailSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SETTLE_SMTP_URL": "smtp://127.0.0.1:2525"}, "SETTLE_SMTP_URL needs SETTLE_ALERT_FROM"},
		{map[string]string{"SETTLE_ALERT_EMAIL": "ops@example.com"}, "need SETTLE_SMTP_URL"},
		{map[string]string{"SETTLE_SMTP_URL": "mail.example.com", "SETTLE_ALERT_FROM": "settle@example.com", "SETTLE_ALERT_EMAIL": "ops@example.com"}, "want smtp://"},
		{map[string]string{"SETTLE_SMTP_URL": "smtp://127.0.0.1:2525", "SETTLE_ALERT_FROM": "settle@example.com", "SETTLE_ALERT_EMAIL": "ops@example.com, nobody"}, `"nobody" is not an email address`},
		{map[string]string{"SETTLE_ALERT_LAG_BLOCKS": "0"}, "alert-lag-blocks must be positive"},
	} {
		ctx, cancel := context.WithCancel(t.Context())
		m := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return tc.env[k] }, Ready: func(string) { cancel() }}
		err := m.Run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--database-url", "sqlite://" + filepath.Join(t.TempDir(), "s.db")})
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
	}
}
