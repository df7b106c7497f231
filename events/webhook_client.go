package events

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/settlepay/settle/invoice"
)

// This file holds the outbound side of webhooks: which addresses an
// endpoint may reach, and the HTTP client that posts deliveries.

// ErrAddressNotAllowed is returned when a live endpoint's host resolves to
// an address that webhooks may not reach (loopback, private, link-local,
// metadata, CGNAT, multicast, unspecified or reserved).
var ErrAddressNotAllowed = errors.New("address not allowed for live webhooks")

// blockedPrefixes are the ranges refused beyond what netip classifies
// (loopback, RFC 1918 and fc00::/7, link-local incl. the 169.254.169.254
// metadata address, multicast, unspecified).
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // CGNAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and broadcast
	netip.MustParsePrefix("100::/64"),       // discard-only
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2002::/16"),      // 6to4: may embed a private IPv4
	netip.MustParsePrefix("2001::/32"),      // Teredo: likewise
}

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// AllowedAddr reports whether a live webhook may connect to ip.
func AllowedAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		return AllowedAddr(netip.AddrFrom4([4]byte(b[12:])))
	}
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// AddressPolicy decides which URLs endpoints may have and which addresses
// deliveries may reach. Test mode allows http and any address, so that
// local development works; live mode requires https and a public address,
// checked when the URL is set and again at every connection (after DNS
// resolution, so that a name that later resolves elsewhere gains nothing).
type AddressPolicy struct {
	// AllowPrivate lifts the address rule in live mode. For tests only.
	AllowPrivate bool
	// Resolver looks up host names when a URL is set; nil means
	// net.DefaultResolver.
	Resolver *net.Resolver
}

// CheckURL returns the field error of an endpoint URL in mode, or nil.
func (p AddressPolicy) CheckURL(ctx context.Context, raw string, mode invoice.Mode) *invoice.FieldError {
	bad := func(code, rule string) *invoice.FieldError {
		return &invoice.FieldError{Field: "url", Code: code, Rule: rule}
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || len(raw) > maxEndpointURLLen || !u.IsAbs() || u.Opaque != "" || u.Hostname() == "":
		return bad("invalid_url", fmt.Sprintf("must be an absolute http(s) URL of at most %d characters", maxEndpointURLLen))
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("invalid_url", "must be an http or https URL")
	case u.User != nil:
		return bad("invalid_url", "must not contain credentials; verify deliveries by their signature")
	case u.Fragment != "":
		return bad("invalid_url", "must not have a fragment")
	case u.Port() != "" && !validPort(u.Port()):
		return bad("invalid_url", "has an invalid port")
	case mode != invoice.ModeLive:
		return nil
	case u.Scheme != "https":
		return bad("url_not_allowed", "must be https in live mode")
	case p.AllowPrivate:
		return nil
	}
	host := u.Hostname()
	addrs := []netip.Addr{}
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = append(addrs, ip)
	} else {
		r := p.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if addrs, err = r.LookupNetIP(ctx, "ip", host); err != nil || len(addrs) == 0 {
			return bad("invalid_url", fmt.Sprintf("host %q does not resolve", host))
		}
	}
	for _, ip := range addrs {
		if !AllowedAddr(ip) {
			return bad("url_not_allowed", fmt.Sprintf("host %q resolves to %s: live endpoints must be public (not loopback, private, link-local, metadata or reserved addresses)", host, ip.Unmap()))
		}
	}
	return nil
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && n < 65536
}

// guardDial refuses connections to addresses AllowedAddr rejects. It runs
// after resolution, on the very address being dialled.
func guardDial(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !AllowedAddr(ip) {
		return fmt.Errorf("%w: %s", ErrAddressNotAllowed, host)
	}
	return nil
}

// reply is what an endpoint answered.
type reply struct {
	status     int
	retryAfter string
	excerpt    string // the first 1 KiB of the body, as valid UTF-8
}

// excerptBytes is how much of a response body an attempt keeps.
const excerptBytes = 1024

// client posts webhook requests: one net/http client for test mode and one
// whose dialer refuses disallowed addresses for live mode. Neither follows
// redirects (a 3xx is a failed attempt, as with Stripe) nor uses a proxy
// from the environment; connections are kept alive between attempts.
type client struct {
	open    *http.Client // test mode
	guarded *http.Client // live mode
}

func newClient(allowPrivate bool, base *tls.Config) *client {
	tlsConfig := &tls.Config{}
	if base != nil {
		tlsConfig = base.Clone()
	}
	tlsConfig.MinVersion = max(tlsConfig.MinVersion, tls.VersionTLS12)
	build := func(control func(network, address string, c syscall.RawConn) error) *http.Client {
		dialer := &net.Dialer{Timeout: 5 * time.Second, Control: control}
		return &http.Client{
			Transport: &http.Transport{
				Proxy:               nil,
				DialContext:         dialer.DialContext,
				TLSClientConfig:     tlsConfig,
				TLSHandshakeTimeout: 5 * time.Second,
				ForceAttemptHTTP2:   true,
				MaxIdleConnsPerHost: 8,
				IdleConnTimeout:     90 * time.Second,
				DisableCompression:  true,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	c := &client{open: build(nil)}
	c.guarded = c.open
	if !allowPrivate {
		c.guarded = build(guardDial)
	}
	return c
}

// post sends body to rawURL with header (name, value pairs) and reads the
// status, Retry-After and the start of the body. ctx bounds the whole
// exchange.
func (c *client) post(ctx context.Context, mode invoice.Mode, rawURL string, header []string, body []byte) (reply, error) {
	hc := c.open
	if mode == invoice.ModeLive {
		hc = c.guarded
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	// The status decides the attempt; the body is only kept for the
	// merchant to read, so a failure to read it changes nothing.
	excerpt, _ := io.ReadAll(io.LimitReader(res.Body, excerptBytes))
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // so the connection can be reused
	return reply{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After"), excerpt: cleanExcerpt(excerpt)}, nil
}

// cleanExcerpt makes a body excerpt storable as text on both databases:
// valid UTF-8 without NUL.
func cleanExcerpt(b []byte) string {
	return strings.ReplaceAll(strings.ToValidUTF8(string(b), "\uFFFD"), "\x00", "")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// parseRetryAfter reads a Retry-After value, seconds or an HTTP date, as a
// wait from now; false when absent or unreadable.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int64(30*24*time.Hour/time.Second))) * time.Second, true
	}
	for _, layout := range []string{time.RFC1123, time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	return 0, false
}
