package openapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi"
	"github.com/settlepay/settle/payor"
)

// BenchmarkCreateInvoice is one POST /api/v1/invoices through the whole
// handler stack as `settle serve` builds it (access log as JSON, metrics,
// authentication from the key cache, idempotency, huma), on each database,
// for the request `settle bench create` sends: a merchant without accounts,
// no Idempotency-Key. cpu-ns/op is the process's CPU per create. net/http's connection handling is not included (the
// handler is called directly), so ns/op and allocs/op are the API layer's
// and the database's work for one create. The access log goes to
// io.Discard: its formatting counts, not its write.
//
//	SETTLE_TEST_POSTGRES_URL=… go test ./openapi -run '^$' -bench CreateInvoice -benchmem
func BenchmarkCreateInvoice(b *testing.B) {
	for _, name := range storetest.Dialects(b) {
		b.Run(name, func(b *testing.B) {
			db := storetest.Open(b, name)
			signer := payor.NewSigner(testSecret, publicURL)
			svc := invoice.NewService(db.DB, nil, signer, nil)
			log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
			h := openapi.New(openapi.Deps{Invoices: svc, Log: log, Metrics: openapi.NewMetrics(svc, nil)})
			_, key, err := svc.CreateMerchant(context.Background(), "Bench Shop")
			if err != nil {
				b.Fatal(err)
			}
			// The key watcher keeps resolved keys and absent rail
			// accounts in memory, as it does in settle serve.
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); svc.RunKeyWatcher(ctx, invoice.KeyFallbackInterval, nil) }()
			b.Cleanup(func() { cancel(); <-done })

			create := func(n int64, w *discardWriter) {
				body := []byte(`{"amount":"25.00","currency":"USD","merchant_order_id":"bench-` + strconv.FormatInt(n, 10) + `"}`)
				r, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "/api/v1/invoices", bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("Authorization", "Bearer "+key)
				clear(w.header)
				w.status = 0
				h.ServeHTTP(w, r)
				if w.status != http.StatusCreated {
					b.Errorf("status %d", w.status)
				}
			}
			for i := range 20 { // warm: the key and the absent rails cached
				create(int64(-i), &discardWriter{header: http.Header{}})
			}
			// 16 creates in flight, as settle bench create's default
			// workers keep (GOMAXPROCS is 2 on this project's machine).
			b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
			// settle serve's collector target (cmd/settle serverGCPercent).
			defer debug.SetGCPercent(debug.SetGCPercent(200))
			b.ReportAllocs()
			b.ResetTimer()
			var seq atomic.Int64
			cpu0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				w := &discardWriter{header: http.Header{}}
				for pb.Next() {
					create(seq.Add(1), w)
				}
			})
			n := seq.Load()
			// The process's CPU (all goroutines, the collector's too) per
			// create, which unlike ns/op does not count waiting for Postgres.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time this process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}
