package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// run writes a module of the given files to a temporary folder, runs
// `go test -json ./...` in it, as .ci/run does, and summarizes its output.
func run(t *testing.T, files map[string]string) (totals, string) {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = "module example.com/m\n\ngo 1.26\n"
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "test", "-json", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	cmd.Stderr = os.Stderr
	out, _ := cmd.Output() // non-zero whenever something failed; the summary says what
	var w bytes.Buffer
	sum, err := summarize(bytes.NewReader(out), &w)
	if err != nil {
		t.Fatal(err)
	}
	return sum, w.String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestGreenRun(t *testing.T) {
	t.Parallel()
	sum, out := run(t, map[string]string{
		"a/a_test.go": `package a
import "testing"
func TestPass(t *testing.T) { t.Log("quiet when passing") }
func TestSkip(t *testing.T) { t.Skip("not here") }
func TestSubs(t *testing.T) {
	t.Run("one", func(t *testing.T) {})
	t.Run("two", func(t *testing.T) { t.Skip("later") })
}
`,
		"none/none.go": "package none\n",
	})
	// TestPass, TestSubs and TestSubs/one pass; TestSkip and TestSubs/two are skipped.
	if want := (totals{Passed: 3, Skipped: 2}); sum != want || !sum.green() {
		t.Errorf("totals %+v, want %+v, green", sum, want)
	}
	if got := lastLine(out); got != "3 passed, 0 failed, 2 skipped" {
		t.Errorf("last line %q", got)
	}
	for _, want := range []string{"ok  \texample.com/m/a\t", "?   \texample.com/m/none\t[no test files]"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "quiet when passing") || strings.Contains(out, "=== RUN") {
		t.Errorf("a passing test's output shown:\n%s", out)
	}
}

func TestFailuresShowTheirOutput(t *testing.T) {
	t.Parallel()
	sum, out := run(t, map[string]string{
		"fails/f_test.go": `package fails
import "testing"
func TestFails(t *testing.T) {
	t.Run("inner", func(t *testing.T) { t.Log("the context"); t.Error("the reason") })
}
func TestPasses(t *testing.T) {}
`,
		"panics/p_test.go": `package panics
import "testing"
func TestPanics(t *testing.T) { panic("the panic") }
`,
		"exits/e_test.go": `package exits
import ("os"; "testing")
func TestExits(t *testing.T) { t.Log("before exit"); os.Exit(3) }
`,
		"broken/b_test.go": `package broken
import "testing"
func TestBroken(t *testing.T) { notDefined() }
`,
		"ok/ok_test.go": `package ok
import "testing"
func TestOK(t *testing.T) {}
`,
	})
	// Failed: TestFails/inner and TestFails, TestPanics, and the packages
	// exits (no test ended) and broken (no test event at all).
	if want := (totals{Passed: 2, Failed: 5}); sum != want || sum.green() {
		t.Errorf("totals %+v, want %+v, not green", sum, want)
	}
	if got := lastLine(out); got != "2 passed, 5 failed, 0 skipped" {
		t.Errorf("last line %q", got)
	}
	for _, want := range []string{
		"the context", "the reason", "--- FAIL: TestFails/inner",
		"panic: the panic",
		"before exit", "--- TestExits: no result", "counted as 1 failure: example.com/m/exits failed with no failed test",
		"undefined: notDefined", "counted as 1 failure: example.com/m/broken build failed",
		"ok  \texample.com/m/ok\t",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

// TestNothingRanIsNotGreen: no test at all, or an empty stream, fails.
func TestNothingRanIsNotGreen(t *testing.T) {
	t.Parallel()
	sum, out := run(t, map[string]string{"none/none.go": "package none\n"})
	if sum != (totals{}) || sum.green() || lastLine(out) != "0 passed, 0 failed, 0 skipped" {
		t.Errorf("no tests: %+v, green %v\n%s", sum, sum.green(), out)
	}
	var w bytes.Buffer
	sum, err := summarize(strings.NewReader(""), &w)
	if err != nil || sum.green() || !strings.Contains(w.String(), "no test passed") {
		t.Errorf("empty input: %+v, %v\n%s", sum, err, w.String())
	}
}

// TestCutShort: a stream that ends while a test runs counts it as failed and
// shows its output; lines that are not JSON are passed through.
func TestCutShort(t *testing.T) {
	t.Parallel()
	in := `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:1: working\n"}
go: some message that is no JSON
`
	var w bytes.Buffer
	sum, err := summarize(strings.NewReader(in), &w)
	if err != nil || sum != (totals{Failed: 1}) {
		t.Fatalf("%+v, %v", sum, err)
	}
	for _, want := range []string{"go: some message that is no JSON\n", "TestA (p): no result", "working"} {
		if !strings.Contains(w.String(), want) {
			t.Errorf("no %q in\n%s", want, w.String())
		}
	}
}
