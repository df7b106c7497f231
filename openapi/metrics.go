package openapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
)

// Metrics are the Prometheus metrics the API exports at /metrics.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics registers the API's metrics, and the Go and process
// collectors, on a new registry. invoices, when not nil, is asked for the
// invoice and webhook delivery counts by status at every scrape; hub, when
// not nil, for its open WebSockets.
func NewMetrics(invoices *invoice.Service, hub *events.Hub) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "settle_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "settle_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	m.reg.MustRegister(m.requests, m.latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if invoices != nil {
		m.reg.MustRegister(&invoiceCollector{invoices})
	}
	if hub != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "settle_websocket_connections", Help: "Open merchant WebSockets on this instance.",
		}, func() float64 { return float64(hub.Connections()) }))
	}
	return m
}

// Registry is where other components add their metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) observe(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

var (
	invoicesDesc   = prometheus.NewDesc("settle_invoices", "Invoices by status, all merchants and modes.", []string{"status"}, nil)
	deliveriesDesc = prometheus.NewDesc("settle_webhook_deliveries", "Webhook deliveries by outcome (pending, succeeded, failed).", []string{"status"}, nil)
)

type invoiceCollector struct{ s *invoice.Service }

func (c *invoiceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- invoicesDesc
	ch <- deliveriesDesc
}

func (c *invoiceCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.s.CountByStatus(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(invoicesDesc, err)
		return
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(invoicesDesc, prometheus.GaugeValue, float64(n), string(st))
	}
	deliveries, err := events.DeliveryCounts(ctx, c.s.DB())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(deliveriesDesc, err)
		return
	}
	for st, n := range deliveries {
		ch <- prometheus.MustNewConstMetric(deliveriesDesc, prometheus.GaugeValue, float64(n), st)
	}
}
