package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/settlepay/settle/invoice"
)

// Config is the server's configuration: flags, each defaulting to its
// SETTLE_* variable, then to the documented default.
type Config struct {
	Addr           string        // SETTLE_ADDR
	DatabaseURL    string        // SETTLE_DATABASE_URL
	PublicURL      string        // SETTLE_PUBLIC_URL
	SecretKey      string        // SETTLE_SECRET_KEY
	LogLevel       string        // SETTLE_LOG_LEVEL
	ExpireInterval time.Duration // SETTLE_EXPIRE_INTERVAL
	ShutdownGrace  time.Duration // SETTLE_SHUTDOWN_GRACE
}

// envVar is one row of the README's configuration table.
type envVar struct {
	flag, env, def, doc string
	secret              bool
}

var envVars = []envVar{
	{"addr", "SETTLE_ADDR", ":8080", "address the server listens on", false},
	{"database-url", "SETTLE_DATABASE_URL", invoice.DefaultDatabaseURL, "sqlite://PATH (embedded, default) or postgres://USER@HOST/DB", false},
	{"public-url", "SETTLE_PUBLIC_URL", "", "base URL of payment pages (default http://localhost:PORT)", false},
	{"secret-key", "SETTLE_SECRET_KEY", "", "HMAC key for checkout links (default: generated once and kept in the database)", true},
	{"log-level", "SETTLE_LOG_LEVEL", "info", "debug, info, warn or error", false},
	{"expire-interval", "SETTLE_EXPIRE_INTERVAL", "5s", "how often due invoices are moved to expired", false},
	{"shutdown-grace", "SETTLE_SHUTDOWN_GRACE", "20s", "how long SIGTERM waits for requests in flight", false},
}

// flags defines the named variables on fs, with environment defaults.
func (m *Main) flags(fs *flag.FlagSet, c *Config, names ...string) {
	for _, v := range envVars {
		if len(names) > 0 && !contains(names, v.flag) {
			continue
		}
		def := v.def
		if e := m.Getenv(v.env); e != "" {
			def = e
		}
		usage := v.doc + " ($" + v.env + ")"
		switch v.flag {
		case "addr":
			fs.StringVar(&c.Addr, v.flag, def, usage)
		case "database-url":
			fs.StringVar(&c.DatabaseURL, v.flag, def, usage)
		case "public-url":
			fs.StringVar(&c.PublicURL, v.flag, def, usage)
		case "secret-key":
			fs.StringVar(&c.SecretKey, v.flag, def, usage)
		case "log-level":
			fs.StringVar(&c.LogLevel, v.flag, def, usage)
		case "expire-interval":
			d, _ := time.ParseDuration(def)
			fs.DurationVar(&c.ExpireInterval, v.flag, d, usage)
		case "shutdown-grace":
			d, _ := time.ParseDuration(def)
			fs.DurationVar(&c.ShutdownGrace, v.flag, d, usage)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (c *Config) validate() error {
	if c.ExpireInterval <= 0 {
		return fmt.Errorf("expire-interval must be positive")
	}
	if c.SecretKey != "" && len(c.SecretKey) < 32 {
		return fmt.Errorf("SETTLE_SECRET_KEY must be at least 32 characters")
	}
	if c.PublicURL == "" {
		_, port, err := net.SplitHostPort(c.Addr)
		if err != nil {
			return fmt.Errorf("addr %q: %w", c.Addr, err)
		}
		c.PublicURL = "http://localhost:" + port
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
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
