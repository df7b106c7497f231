package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// maxExposure is the highest `systemd-analyze security` exposure the unit
// may have (0 is the most locked down, 10 the least; systemd calls under
// 2.0 "OK"). settle needs the network, so network sandboxing is all it lacks.
const maxExposure = 2.0

// TestSystemdUnit verifies deploy/settle.service with `systemd-analyze
// verify` (directives, sections, values) and rates its hardening with
// `systemd-analyze security --offline`. Where systemd is absent it is
// skipped, unless SETTLE_REQUIRE_SYSTEMD is set.
func TestSystemdUnit(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("SETTLE_REQUIRE_SYSTEMD") != "" {
			t.Fatal("systemd-analyze not found and SETTLE_REQUIRE_SYSTEMD is set")
		}
		t.Skip("systemd-analyze not found: the unit is checked where systemd is present")
	}
	unit, err := os.ReadFile("settle.service")
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart's program exists; the test binary stands
	// in for /usr/local/bin/settle, which this machine need not have.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const exec_ = "ExecStart=/usr/local/bin/settle serve"
	if !strings.Contains(string(unit), exec_) {
		t.Fatalf("settle.service: no %q line", exec_)
	}
	path := filepath.Join(t.TempDir(), "settle.service")
	body := strings.Replace(string(unit), exec_, "ExecStart="+self+" serve", 1)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}

	out, err := exec.Command(tool, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	out, err = exec.Command(tool, "security", "--offline=yes", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: no overall exposure level in\n%s", out)
	}
	level, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	if level > maxExposure {
		t.Fatalf("settle.service exposure %.1f, want at most %.1f:\n%s", level, maxExposure, out)
	}
	t.Logf("settle.service: systemd-analyze verify clean, security exposure %.1f", level)
}

// TestEnvironmentExample checks that the example environment file names
// only settings of the README's Configuration table.
func TestEnvironmentExample(t *testing.T) {
	env, err := os.ReadFile("settle.env.example")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^#?(SETTLE_[A-Z0-9_]+)=`)
	n := 0
	for _, line := range strings.Split(string(env), "\n") {
		m := name.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n++
		v := m[1]
		known := strings.Contains(string(readme), "| `"+v+"` |")
		for _, prefix := range []string{"SETTLE_RPC_", "SETTLE_WS_"} {
			if strings.HasPrefix(v, prefix) && strings.Contains(string(readme), "| `"+prefix+"<NETWORK>` |") {
				known = true
			}
		}
		if !known {
			t.Errorf("settle.env.example: %s is not in the README's Configuration table", v)
		}
	}
	if n == 0 {
		t.Fatal("settle.env.example names no setting")
	}
}
