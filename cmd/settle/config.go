package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/events/alerts"
	"github.com/settlepay/settle/invoice"
)

// Config is the server's configuration: flags, each defaulting to its
// SETTLE_* variable, then to the documented default.
type Config struct {
	Addr           string
	DatabaseURL    string
	PublicURL      string
	SecretKey      string
	LogLevel       string
	ExpireInterval time.Duration
	ShutdownGrace  time.Duration
	Webhooks       events.WebhookConfig
	Hub            events.HubConfig
	ConfigFile     string
	EVMMaxRange    int
	EVMPoll        time.Duration
	EVMMaxWatched  int
	UniqueHold     time.Duration
	RefundAfter    time.Duration
	PayorRate      int
	PayorWSPerIP   int
	PayorWSPerSess int
	SolanaPoll     time.Duration
	ChainLease     time.Duration
	Alerts         alertConfig
	StrictConfig   bool
}

// setting is one row of the README's configuration table: a flag, its
// variable, its default and the Config field it fills.
type setting struct {
	flag, env, def, doc string
	field               func(c *Config) any // *string, *int, *bool or *time.Duration
}

var settings = []setting{
	{"addr", "SETTLE_ADDR", ":8080", "address the server listens on", func(c *Config) any { return &c.Addr }},
	{"database-url", "SETTLE_DATABASE_URL", invoice.DefaultDatabaseURL, "sqlite://PATH (embedded, default) or postgres://USER@HOST/DB", func(c *Config) any { return &c.DatabaseURL }},
	{"public-url", "SETTLE_PUBLIC_URL", "", "base URL of payment pages (default http://localhost:PORT)", func(c *Config) any { return &c.PublicURL }},
	{"secret-key", "SETTLE_SECRET_KEY", "", "HMAC key for checkout links (default: generated once and kept in the database)", func(c *Config) any { return &c.SecretKey }},
	{"log-level", "SETTLE_LOG_LEVEL", "info", "debug, info, warn or error", func(c *Config) any { return &c.LogLevel }},
	{"expire-interval", "SETTLE_EXPIRE_INTERVAL", "5s", "how often due invoices are moved to expired", func(c *Config) any { return &c.ExpireInterval }},
	{"shutdown-grace", "SETTLE_SHUTDOWN_GRACE", "20s", "how long SIGTERM waits for requests in flight", func(c *Config) any { return &c.ShutdownGrace }},
	{"webhook-workers", "SETTLE_WEBHOOK_WORKERS", "16", "webhook attempts in flight at once in this process", func(c *Config) any { return &c.Webhooks.Workers }},
	{"webhook-per-endpoint", "SETTLE_WEBHOOK_PER_ENDPOINT", "4", "webhook attempts in flight to one endpoint, across instances", func(c *Config) any { return &c.Webhooks.PerEndpoint }},
	{"webhook-timeout", "SETTLE_WEBHOOK_TIMEOUT", "10s", "time an endpoint has to answer 2xx", func(c *Config) any { return &c.Webhooks.Timeout }},
	{"webhook-disable-after", "SETTLE_WEBHOOK_DISABLE_AFTER", "120h", "an endpoint failing every attempt this long is disabled", func(c *Config) any { return &c.Webhooks.DisableAfter }},
	{"ws-max-per-ip", "SETTLE_WS_MAX_PER_IP", "10", "merchant WebSockets from one IP address in one mode (per instance; -1: no limit)", func(c *Config) any { return &c.Hub.MaxPerIP }},
	{"ws-max-per-merchant", "SETTLE_WS_MAX_PER_MERCHANT", "100", "merchant WebSockets of one merchant in one mode (per instance; -1: no limit)", func(c *Config) any { return &c.Hub.MaxPerMerchant }},
	{"ws-ping-interval", "SETTLE_WS_PING_INTERVAL", "30s", "how often the server pings each WebSocket", func(c *Config) any { return &c.Hub.PingInterval }},
	{"ws-idle-timeout", "SETTLE_WS_IDLE_TIMEOUT", "60s", "a WebSocket silent this long is closed", func(c *Config) any { return &c.Hub.IdleTimeout }},
	{"config", "SETTLE_CONFIG", "", "JSON file of network endpoints (see Networks); SETTLE_RPC_* variables win over it", func(c *Config) any { return &c.ConfigFile }},
	{"evm-max-range", "SETTLE_EVM_MAX_RANGE", "1000", "blocks per eth_getLogs call (halved by itself when a provider refuses)", func(c *Config) any { return &c.EVMMaxRange }},
	{"evm-poll-interval", "SETTLE_EVM_POLL_INTERVAL", "2s", "how often EVM heads are polled (new heads over SETTLE_WS_* wake the watcher sooner)", func(c *Config) any { return &c.EVMPoll }},
	{"evm-max-watched", "SETTLE_EVM_MAX_WATCHED", "500", "up to this many watched addresses, logs are filtered by recipient; above, every transfer of the token is read", func(c *Config) any { return &c.EVMMaxWatched }},
	{"unique-amount-hold", "SETTLE_UNIQUE_AMOUNT_HOLD", "168h", "how long after expiry an invoice keeps its unique amount on a shared address (late payments still match)", func(c *Config) any { return &c.UniqueHold }},
	{"fulfilment-refund-after", "SETTLE_FULFILMENT_REFUND_AFTER", "168h", "a paid invoice created with fulfilled: false and never fulfilled is listed to refund in the reconciliation report after this", func(c *Config) any { return &c.RefundAfter }},
	{"chain-lease", "SETTLE_CHAIN_LEASE", "15s", "how long an instance's claim to watch a network lasts unrenewed: after a crash, another instance (or the restarted one) takes the network over within this", func(c *Config) any { return &c.ChainLease }},
	{"solana-poll-interval", "SETTLE_SOLANA_POLL_INTERVAL", "5s", "how often followed Solana token accounts are polled for signatures (logsSubscribe over SETTLE_WS_* wakes the watcher sooner)", func(c *Config) any { return &c.SolanaPoll }},
	{"payor-rate", "SETTLE_PAYOR_RATE", "20", "payor requests (checkout API, page, WebSocket) per second from one IP, with bursts of 4 times as many", func(c *Config) any { return &c.PayorRate }},
	{"payor-ws-max-per-ip", "SETTLE_PAYOR_WS_MAX_PER_IP", "20", "payor WebSockets open at once from one IP address (per instance; -1: no limit)", func(c *Config) any { return &c.PayorWSPerIP }},
	{"payor-ws-max-per-session", "SETTLE_PAYOR_WS_MAX_PER_SESSION", "10", "payor WebSockets open at once for one checkout session (per instance; -1: no limit)", func(c *Config) any { return &c.PayorWSPerSess }},
	{"ws-send-buffer", "SETTLE_WS_SEND_BUFFER", "256", "events queued for one WebSocket before it is cut off as a slow reader", func(c *Config) any { return &c.Hub.SendBuffer }},
	{"webhook-allow-private", "SETTLE_WEBHOOK_ALLOW_PRIVATE", "false", "let webhook endpoints of both modes be on loopback, private and link-local addresses (settle devnet: true)", func(c *Config) any { return &c.Webhooks.AllowPrivateAddresses }},
	{"smtp-url", "SETTLE_SMTP_URL", "", "SMTP server of alert emails: smtp://[USER:PASS@]HOST[:587] (STARTTLS when offered) or smtps://…:465; with SETTLE_ALERT_FROM and SETTLE_ALERT_EMAIL", func(c *Config) any { return &c.Alerts.SMTPURL }},
	{"alert-from", "SETTLE_ALERT_FROM", "", "sender address of alert emails", func(c *Config) any { return &c.Alerts.From }},
	{"alert-email", "SETTLE_ALERT_EMAIL", "", "the operator's addresses (comma-separated) that get every alert by email", func(c *Config) any { return &c.Alerts.Email }},
	{"alert-interval", "SETTLE_ALERT_INTERVAL", "30s", "how often alert conditions are checked", func(c *Config) any { return &c.Alerts.Interval }},
	{"alert-webhook-failing", "SETTLE_ALERT_WEBHOOK_FAILING", "1h", "a webhook endpoint whose attempts have all failed this long fires an alert", func(c *Config) any { return &c.Alerts.WebhookFailing }},
	{"alert-lag-blocks", "SETTLE_ALERT_LAG_BLOCKS", "50", "a network watcher this many blocks behind its head fires an alert", func(c *Config) any { return &c.Alerts.LagBlocks }},
	{"alert-down-after", "SETTLE_ALERT_DOWN_AFTER", "5m", "a network watcher not up to date this long while its RPC fails fires an alert", func(c *Config) any { return &c.Alerts.DownAfter }},
	{"strict-config", "SETTLE_STRICT_CONFIG", "false", "refuse to start when a SETTLE_* variable is not one settle knows (else a warning)", func(c *Config) any { return &c.StrictConfig }},
}

// settingForms checks the string settings whose form is known; the error
// says the form wanted.
var settingForms = map[string]func(string) error{
	"addr": func(s string) error {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return errors.New("want HOST:PORT such as :8080 or 127.0.0.1:8080")
		}
		return nil
	},
	"database-url": func(s string) error {
		if !strings.HasPrefix(s, "sqlite:") && !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
			return errors.New("want sqlite://PATH or postgres://USER:PASSWORD@HOST:5432/DB")
		}
		return nil
	},
	"public-url": func(s string) error {
		if u, err := url.Parse(s); s != "" && (err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https") {
			return errors.New("want an http(s) URL such as https://pay.example.com")
		}
		return nil
	},
	"log-level": func(s string) error {
		if _, err := parseLevel(s); err != nil {
			return err
		}
		return nil
	},
}

// formValue is a flag whose Set says the form it wants: the flag package
// and the SETTLE_* variables report it as `SETTLE_EXPIRE_INTERVAL="5": want
// a duration such as 5s or 1m`.
type formValue struct {
	set    func(string) error
	get    func() string
	isBool bool
}

func (v formValue) Set(s string) error { return v.set(s) }
func (v formValue) IsBoolFlag() bool   { return v.isBool }
func (v formValue) String() string {
	if v.get == nil {
		return ""
	}
	return v.get()
}

// formFlag defines the setting v on fs, into p, with its default.
func formFlag(fs *flag.FlagSet, v setting, p any, usage string) {
	var fv formValue
	switch p := p.(type) {
	case *string:
		*p = v.def
		check := settingForms[v.flag]
		fv = formValue{get: func() string { return *p }, set: func(s string) error {
			if check != nil {
				if err := check(s); err != nil {
					return err
				}
			}
			*p = s
			return nil
		}}
	case *int:
		*p, _ = strconv.Atoi(v.def)
		fv = formValue{get: func() string { return strconv.Itoa(*p) }, set: func(s string) error {
			n, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("want a whole number such as %s", cmp.Or(v.def, "10"))
			}
			*p = n
			return nil
		}}
	case *time.Duration:
		*p, _ = time.ParseDuration(v.def)
		fv = formValue{get: func() string { return p.String() }, set: func(s string) error {
			d, err := time.ParseDuration(s)
			if err != nil {
				return errors.New("want a duration such as 5s or 1m")
			}
			*p = d
			return nil
		}}
	case *bool:
		*p, _ = strconv.ParseBool(v.def)
		fv = formValue{isBool: true, get: func() string { return strconv.FormatBool(*p) }, set: func(s string) error {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return errors.New("want true or false")
			}
			*p = b
			return nil
		}}
	}
	fs.Var(fv, v.flag, usage)
}

// flags defines the named settings on fs (all when none are named), with
// their defaults, then applies the SETTLE_* variables that are set; flags
// given on the command line win over both.
func (m *Main) flags(fs *flag.FlagSet, c *Config, names ...string) error {
	for _, v := range settings {
		// --strict-config is read by Run before any command; every
		// command that reads settings accepts it.
		if len(names) > 0 && !slices.Contains(names, v.flag) && v.flag != "strict-config" {
			continue
		}
		formFlag(fs, v, v.field(c), v.doc+" ($"+v.env+")")
		if e := m.Getenv(v.env); e != "" {
			if err := fs.Set(v.flag, e); err != nil {
				if v.flag == "database-url" {
					e = dbName(e) // without its password
				}
				return fmt.Errorf("%s=%q: %w", v.env, e, err)
			}
		}
	}
	return nil
}

// flagSet reports whether the flag name was given, on the command line or
// by its variable.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func (c *Config) validate() error {
	for name, d := range map[string]time.Duration{
		"expire-interval": c.ExpireInterval, "shutdown-grace": c.ShutdownGrace, "webhook-timeout": c.Webhooks.Timeout,
		"webhook-disable-after": c.Webhooks.DisableAfter, "ws-ping-interval": c.Hub.PingInterval, "ws-idle-timeout": c.Hub.IdleTimeout,
		"evm-poll-interval": c.EVMPoll, "unique-amount-hold": c.UniqueHold, "chain-lease": c.ChainLease,
		"fulfilment-refund-after": c.RefundAfter, "alert-interval": c.Alerts.Interval,
		"alert-webhook-failing": c.Alerts.WebhookFailing, "alert-down-after": c.Alerts.DownAfter,
	} {
		if d <= 0 {
			return fmt.Errorf("%s must be positive", name)
		}
	}
	if c.Webhooks.Workers <= 0 || c.Webhooks.PerEndpoint <= 0 || c.Hub.SendBuffer <= 0 || c.EVMMaxRange <= 0 || c.EVMMaxWatched < 0 || c.PayorRate <= 0 {
		return fmt.Errorf("webhook-workers, webhook-per-endpoint, ws-send-buffer, evm-max-range and payor-rate must be positive")
	}
	for name, n := range map[string]int{
		"ws-max-per-ip": c.Hub.MaxPerIP, "ws-max-per-merchant": c.Hub.MaxPerMerchant,
		"payor-ws-max-per-ip": c.PayorWSPerIP, "payor-ws-max-per-session": c.PayorWSPerSess,
	} {
		if n == 0 || n < -1 {
			return fmt.Errorf("%s must be positive, or -1 for no limit", name)
		}
	}
	if c.Alerts.LagBlocks <= 0 {
		return fmt.Errorf("alert-lag-blocks must be positive")
	}
	if err := c.Alerts.check(); err != nil {
		return err
	}
	if c.SecretKey != "" && len(c.SecretKey) < 32 {
		return fmt.Errorf("SETTLE_SECRET_KEY must be at least 32 characters")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("addr %q: %w", c.Addr, err)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	l, err := parseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// parseLevel reads a log level: debug, info, warn or error (slog's names,
// in any case, with an offset such as warn+2).
func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, errors.New("want one of debug, info, warn or error")
	}
	return l, nil
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseArgs parses flags and positional arguments in any order
// (`keys revoke PREFIX --database-url …` as well as the flags first) and
// returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// alertConfig is how alerts are emailed and when they fire.
type alertConfig struct {
	SMTPURL, From, Email     string
	Interval, WebhookFailing time.Duration
	DownAfter                time.Duration
	LagBlocks                int
}

// check refuses half an email setup: an SMTP server needs a sender and a
// recipient, and recipients need a server.
func (a alertConfig) check() error {
	switch {
	case a.SMTPURL == "" && (a.From != "" || a.Email != ""):
		return errors.New("SETTLE_ALERT_FROM and SETTLE_ALERT_EMAIL need SETTLE_SMTP_URL, the server that sends alert emails")
	case a.SMTPURL == "":
		return nil
	case a.From == "" || a.Email == "":
		return errors.New("SETTLE_SMTP_URL needs SETTLE_ALERT_FROM (the sender) and SETTLE_ALERT_EMAIL (the operator's addresses)")
	}
	if _, err := alerts.NewSMTP(a.SMTPURL, a.From); err != nil {
		return err
	}
	for _, to := range a.recipients() {
		if _, err := mail.ParseAddress(to); err != nil {
			return fmt.Errorf("SETTLE_ALERT_EMAIL: %q is not an email address", to)
		}
	}
	return nil
}

func (a alertConfig) recipients() []string {
	var out []string
	for _, to := range strings.Split(a.Email, ",") {
		if to = strings.TrimSpace(to); to != "" {
			out = append(out, to)
		}
	}
	return out
}
