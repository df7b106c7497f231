package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json's TestEvent, with the
// build events that go test adds).
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	ImportPath  string // build-output and build-fail
	FailedBuild string // on a package's fail when its build failed
}

// totals counts the tests of a run.
type totals struct {
	Passed, Failed, Skipped int
}

// green reports whether the run passed: nothing failed and something ran.
func (t totals) green() bool { return t.Failed == 0 && t.Passed > 0 }

func (t totals) String() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", t.Passed, t.Failed, t.Skipped)
}

// summary keeps the output of every test until it ends: a test that passes
// or is skipped shows nothing, one that fails shows all of it.
type summary struct {
	w      io.Writer
	totals totals
	tests  map[string]map[string][]string // package, test: output so far
	order  map[string][]string            // package: tests in the order they started
	pkg    map[string][]string            // package: its own output so far
	failed map[string]bool                // packages with a failed test
}

func newSummary(w io.Writer) *summary {
	return &summary{w: w, tests: map[string]map[string][]string{}, order: map[string][]string{},
		pkg: map[string][]string{}, failed: map[string]bool{}}
}

// read handles r line by line; a line that is no JSON event is copied as is.
func (s *summary) read(r io.Reader) error {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			var e event
			if json.Unmarshal([]byte(line), &e) != nil || e.Action == "" {
				io.WriteString(s.w, line)
			} else {
				s.handle(e)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (s *summary) handle(e event) {
	switch {
	case e.Action == "build-output":
		io.WriteString(s.w, e.Output) // the compiler's messages, as go test prints them
	case e.Test != "":
		s.test(e)
	case e.Action == "output":
		s.pkg[e.Package] = append(s.pkg[e.Package], e.Output)
	case e.Action == "pass" || e.Action == "skip":
		// Only the package's result line ("ok  \tpkg\t1.2s", "?   \tpkg\t[no test files]").
		if out := s.pkg[e.Package]; len(out) > 0 {
			io.WriteString(s.w, out[len(out)-1])
		}
		s.forget(e.Package)
	case e.Action == "fail":
		s.packageFailed(e)
	}
}

func (s *summary) test(e event) {
	tests := s.tests[e.Package]
	if tests == nil {
		tests = map[string][]string{}
		s.tests[e.Package] = tests
	}
	switch e.Action {
	case "run":
		if _, ok := tests[e.Test]; !ok {
			tests[e.Test] = nil
			s.order[e.Package] = append(s.order[e.Package], e.Test)
		}
	case "output":
		if !strings.HasPrefix(e.Output, "=== ") { // RUN, PAUSE, CONT, NAME: noise once grouped by test
			tests[e.Test] = append(tests[e.Test], e.Output)
		}
	case "pass":
		s.totals.Passed++
		delete(tests, e.Test)
	case "skip":
		s.totals.Skipped++
		delete(tests, e.Test)
	case "fail":
		s.totals.Failed++
		s.failed[e.Package] = true
		io.WriteString(s.w, strings.Join(tests[e.Test], ""))
		delete(tests, e.Test)
	}
}

// packageFailed shows a failed package: the output of tests that never
// ended (the binary died while they ran) and the package's own output.
func (s *summary) packageFailed(e event) {
	for _, name := range s.order[e.Package] {
		if out, running := s.tests[e.Package][name]; running {
			fmt.Fprintf(s.w, "--- %s: no result: the test binary ended while it ran\n", name)
			io.WriteString(s.w, strings.Join(out, ""))
		}
	}
	for _, line := range s.pkg[e.Package] {
		if line != "PASS\n" {
			io.WriteString(s.w, line)
		}
	}
	if !s.failed[e.Package] {
		// A build that failed, a crash outside a test, a TestMain that
		// failed: no test says so, so the package counts as one failure.
		s.totals.Failed++
		why := "failed with no failed test"
		if e.FailedBuild != "" {
			why = "build failed"
		}
		fmt.Fprintf(s.w, "counted as 1 failure: %s %s\n", e.Package, why)
	}
	s.forget(e.Package)
}

func (s *summary) forget(pkg string) {
	delete(s.tests, pkg)
	delete(s.order, pkg)
	delete(s.pkg, pkg)
	delete(s.failed, pkg)
}

// finish shows what never ended (the stream was cut short) and the totals.
func (s *summary) finish() {
	var pkgs []string
	for p := range s.order {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, p := range pkgs {
		for _, name := range s.order[p] {
			if out, running := s.tests[p][name]; running {
				fmt.Fprintf(s.w, "--- %s (%s): no result: the output ended while it ran\n", name, p)
				io.WriteString(s.w, strings.Join(out, ""))
				s.totals.Failed++
			}
		}
	}
	if s.totals.Passed == 0 {
		fmt.Fprintln(s.w, "no test passed: a run that executed nothing is a failure")
	}
	fmt.Fprintln(s.w, s.totals)
}
