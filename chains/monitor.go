package chains

import (
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// NetworkStatus is how a watcher stands on one network, for /readyz.
type NetworkStatus struct {
	Head       int64            `json:"head"`
	Scanned    int64            `json:"scanned" doc:"Every block up to this one has been read."`
	Lag        int64            `json:"lag_blocks"`
	Leased     bool             `json:"leased" doc:"This instance holds the network's scan lease."`
	RPCErrors  int64            `json:"rpc_errors"`
	LastError  string           `json:"last_error,omitempty"`
	LastErrAt  time.Time        `json:"last_error_at,omitzero"`
	UpdatedAt  time.Time        `json:"updated_at,omitzero"`
	LastOKAt   time.Time        `json:"last_ok_at,omitzero" doc:"When the watcher last brought the network up to date."`
	Refused    string           `json:"refused,omitempty" doc:"Why the network is not offered (its RPC is another chain)."`
	Confirmed  string           `json:"confirmed_at" doc:"depth or finalized"`
	Subscribed bool             `json:"subscribed" doc:"New heads arrive over a WebSocket subscription (else polling)."`
	Providers  []ProviderStatus `json:"providers,omitempty" doc:"With several RPC providers: each one's health."`
}

// ProviderStatus is one of a network's RPC providers as /readyz shows it.
type ProviderStatus struct {
	URL         string `json:"url"` // without what may be a key
	Head        int64  `json:"head"`
	Demoted     bool   `json:"demoted" doc:"Its head lags the best provider's by more than the allowed blocks."`
	Errors      int    `json:"recent_errors"`
	LatencyMS   int64  `json:"latency_ms"`
	RefusesLogs int64  `json:"refuses_log_ranges_from,omitempty" doc:"eth_getLogs ranges this long or longer go to other providers first."`
	Disagreed   int64  `json:"disagreed,omitempty" doc:"Block hashes it answered that two other providers contradicted."`
	Calls       int64  `json:"calls"`
	LastError   string `json:"last_error,omitempty"`
}

// Monitor collects what watchers report: Prometheus metrics and the latest
// status per network. It is safe for concurrent use.
type Monitor struct {
	mu        sync.Mutex
	status    map[string]NetworkStatus
	head      *prometheus.GaugeVec
	lag       *prometheus.GaugeVec
	rpcErrors *prometheus.CounterVec
}

// NewMonitor registers the watcher metrics on reg (nil: not exported).
func NewMonitor(reg prometheus.Registerer) *Monitor {
	m := &Monitor{
		status: map[string]NetworkStatus{},
		head: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "settle_chain_head_block", Help: "Newest block the network's RPC reports.",
		}, []string{"network"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "settle_chain_lag_blocks", Help: "Blocks between the network's head and the last block scanned.",
		}, []string{"network"}),
		rpcErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "settle_chain_rpc_errors_total", Help: "Failed RPC calls by network and method (each retry counts).",
		}, []string{"network", "method"}),
	}
	if reg != nil {
		reg.MustRegister(m.head, m.lag, m.rpcErrors)
	}
	return m
}

// Update changes network's status with f.
func (m *Monitor) Update(network string, f func(*NetworkStatus)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.status[network]
	f(&st)
	st.UpdatedAt = time.Now().UTC()
	m.status[network] = st
	m.head.WithLabelValues(network).Set(float64(st.Head))
	m.lag.WithLabelValues(network).Set(float64(st.Lag))
}

// RPCError counts a failed call.
func (m *Monitor) RPCError(network, method string, err error) {
	m.rpcErrors.WithLabelValues(network, method).Inc()
	m.Update(network, func(st *NetworkStatus) {
		st.RPCErrors++
		st.LastError, st.LastErrAt = method+": "+err.Error(), time.Now().UTC()
	})
}

// Status returns every network's status.
func (m *Monitor) Status() map[string]NetworkStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.status)
}
