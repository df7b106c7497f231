package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/settlepay/settle/invoice/storetest"
)

// TestBenchWS runs `settle bench ws` small, on each dialect, and checks
// that every connection got every event exactly once.
//
// With --server raw (the reference: no settle between the events and the
// sockets) the same holds on SQLite.
func TestBenchWS(t *testing.T) {
	t.Parallel()
	runs := []string{"raw"}
	runs = append(runs, storetest.Dialects(t)...)
	for _, run := range runs {
		t.Run(run, func(t *testing.T) {
			t.Parallel()
			args := []string{"bench", "ws", "--json", "--connections", "50", "--rate", "40", "--duration", "500ms",
				"--processes", "one", "--drain", "5s"}
			switch run {
			case "postgres":
				args = append(args, "--database-url", storetest.Open(t, run).URL)
			case "raw":
				args = append(args, "--server", "raw")
			}
			var stdout, stderr bytes.Buffer
			m := &Main{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
			err := m.Run(context.Background(), args)
			var res benchWSResult
			if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
				t.Fatalf("bench output is not one JSON object (%v; run error %v): %q, stderr %q", jerr, err, stdout.String(), stderr.String())
			}
			if err != nil {
				t.Fatalf("bench ws: %v (%+v)", err, res)
			}
			if want := map[bool]string{true: "raw", false: "settle"}[run == "raw"]; res.Server != want {
				t.Errorf("server %q, want %q", res.Server, want)
			}
			if res.Held != 50 || res.HubConnections != 50 {
				t.Errorf("held %d, server counted %d, want 50", res.Held, res.HubConnections)
			}
			// How many events 500 ms hold depends on the machine and its
			// load: the count is reported, not bounded.
			if res.Events == 0 {
				t.Errorf("no event written")
			}
			if res.Expected != 50*res.Events || res.Received != res.Expected {
				t.Errorf("received %d messages, expected %d (= 50 × %d events)", res.Received, res.Expected, res.Events)
			}
			if res.Missing != 0 || res.Duplicates != 0 || res.OutOfOrder != 0 {
				t.Errorf("missing %d, duplicates %d, out of order %d", res.Missing, res.Duplicates, res.OutOfOrder)
			}
			if res.Latency.P50 <= 0 || res.Latency.P99 < res.Latency.P50 || res.Latency.Max < res.Latency.P99 {
				t.Errorf("latencies %+v", res.Latency)
			}
		})
	}
}

func TestBenchWSRefusesBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--connections", "0"}, {"--rate", "0"}, {"--duration", "-1s"}, {"--processes", "three"}, {"--server", "nginx"}, {"extra"},
	} {
		var stdout, stderr bytes.Buffer
		m := &Main{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
		if err := m.Run(context.Background(), append([]string{"bench", "ws"}, args...)); err == nil {
			t.Errorf("%v: accepted", args)
		}
		if stdout.Len() > 0 {
			t.Errorf("%v: printed %q", args, stdout.String())
		}
	}
}
