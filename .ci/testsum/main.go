// Command testsum reads the output of `go test -json` on stdin and writes
// what a person reading a CI log needs: one line per package (as `go test`
// prints it), the whole output of every test that failed and of every build
// that failed, and last one line with the totals of the run:
//
//	N passed, N failed, N skipped
//
// It exits 1 when anything failed or when no test passed, so that a run
// that executed nothing never looks green.
//
// What is counted: every test event with a Test field whose action is
// "pass", "fail" or "skip" (top-level tests and subtests alike; a parent
// whose subtest failed fails too, and counts once for itself). Package
// events (no Test field) are not counted as tests, but a package that fails
// without any failed test in it (its build failed, or its test binary
// crashed, timed out or exited outside a test) counts as one failure, so
// that the failure is never missing from the totals.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	sum, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(2)
	}
	if !sum.green() {
		os.Exit(1)
	}
}

// summarize copies the readable part of the go test -json stream r to w,
// ending with the totals line, and returns the totals.
func summarize(r io.Reader, w io.Writer) (totals, error) {
	s := newSummary(w)
	err := s.read(r)
	s.finish()
	return s.totals, err
}
