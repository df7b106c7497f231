package openapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/settlepay/settle/chains"
)

// registerOps adds the operational endpoints, outside the versioned API and
// without authentication: liveness, readiness (the database answers) and
// Prometheus metrics.
func (s *server) registerOps(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.invoices.Ping(ctx); err != nil {
			s.log.WarnContext(ctx, "readiness: database does not answer", "err", err)
			writeProblem(w, r, problem(http.StatusServiceUnavailable, "database_unavailable", "The database does not answer."))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		ready := struct {
			Status   string                          `json:"status"`
			Networks map[string]chains.NetworkStatus `json:"networks,omitempty"`
		}{Status: "ready"}
		if s.monitor != nil {
			ready.Networks = s.monitor.Status()
		}
		json.NewEncoder(w).Encode(ready)
	})
	mux.Handle("GET /metrics", s.metrics.handler())
}
