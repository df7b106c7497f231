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

// ErrAddressNotAllowed is returned when an endpoint's host resolves to an
// address that webhooks may not reach (loopback, private, link-local,
// metadata, CGNAT, multicast, unspecified or reserved), in either mode,
// unless the operator allowed private addresses.
var ErrAddressNotAllowed = errors.New("address not allowed for webhooks")

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
	// IPv4-compatible (::a.b.c.d, deprecated by RFC 4291) and
	// IPv4-translated (::ffff:0:a.b.c.d, RFC 2765) forms: no public host is
	// reached through them, and a stack may carry them to the IPv4 address
	// they embed (::127.0.0.1 to loopback), so all of them are refused. They
	// also cover :: and ::1.
	netip.MustParsePrefix("::/96"),
	netip.MustParsePrefix("::ffff:0:0:0/96"),
}

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// AllowedAddr reports whether a webhook may connect to ip. An IPv4-mapped
// (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) address is judged by the
// IPv4 address it embeds.
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
// deliveries may reach. In both modes the host must resolve to public
// addresses only, checked when the URL is set and again at every
// connection (after DNS resolution, so that a name that later resolves
// elsewhere gains nothing): otherwise any merchant could make settle post
// to, and read the replies of, services on its own network. Live mode
// also requires https; test mode allows http.
type AddressPolicy struct {
	// AllowPrivate lifts the address rule in both modes: loopback, private
	// and link-local hosts are accepted and reached. For `settle devnet`,
	// whose inbox is on loopback, for tests, and for operators whose
	// merchants are trusted with the network settle runs in.
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
	case mode == invoice.ModeLive && u.Scheme != "https":
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
			return bad("url_not_allowed", fmt.Sprintf("host %q resolves to %s: endpoints must be public (not loopback, private, link-local, metadata or reserved addresses)", host, ip.Unmap()))
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

// client posts webhook requests of both modes through one net/http client
// whose dialer refuses disallowed addresses (unless private ones are
// allowed), so no reply, and no excerpt of one, ever comes from such an
// address. It follows no redirect (a 3xx is a failed attempt, as with
// Stripe) and uses no proxy from the environment; connections are kept
// alive between attempts.
type client struct {
	hc *http.Client
}

func newClient(allowPrivate bool, base *tls.Config) *client {
	tlsConfig := &tls.Config{}
	if base != nil {
		tlsConfig = base.Clone()
	}
	tlsConfig.MinVersion = max(tlsConfig.MinVersion, tls.VersionTLS12)
	var control func(network, address string, c syscall.RawConn) error
	if !allowPrivate {
		control = guardDial
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: control}
	return &client{hc: &http.Client{
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
	}}
}

// post sends body to rawURL with header (name, value pairs) and reads the
// status, Retry-After and the start of the body. ctx bounds the whole
// exchange.
func (c *client) post(ctx context.Context, rawURL string, header []string, body []byte) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.hc.Do(req)
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
