package devchain

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/ethereum/go-ethereum/version"
	"github.com/rs/cors"
)

// newRPCServer serves the namespaces a wallet, ethclient and eth_subscribe
// need: eth, net and web3; no admin, debug or personal.
func newRPCServer(c *Chain) (*rpc.Server, error) {
	srv := rpc.NewServer()
	for name, svc := range map[string]any{
		"eth":  &ethAPI{c: c},
		"net":  netAPI{},
		"web3": web3API{},
	} {
		if err := srv.RegisterName(name, svc); err != nil {
			srv.Stop()
			return nil, fmt.Errorf("register %s: %w", name, err)
		}
	}
	return srv, nil
}

// serve listens on addr and answers JSON-RPC over HTTP and, on the same
// port, WebSocket upgrades, from any origin (as go-ethereum's node does with
// --http.corsdomain '*' --ws.origins '*'). Only Host headers naming an IP
// address or localhost are accepted, go-ethereum's default virtual hosts,
// against DNS rebinding.
func (c *Chain) serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	ws := c.rpc.WebsocketHandler([]string{"*"})
	httpRPC := cors.New(cors.Options{
		AllowedOrigins: []string{"*"},
		AllowedMethods: []string{http.MethodPost, http.MethodGet},
		AllowedHeaders: []string{"*"},
		MaxAge:         600,
	}).Handler(c.rpc)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowedHost(r.Host) {
			http.Error(w, "invalid host specified", http.StatusForbidden)
			return
		}
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
			strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
			ws.ServeHTTP(w, r)
			return
		}
		httpRPC.ServeHTTP(w, r)
	})
	c.http = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := c.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("devchain: rpc server stopped", "err", err)
		}
	}()
	hostport := ln.Addr().String()
	c.httpURL, c.wsURL = "http://"+hostport, "ws://"+hostport
	return nil
}

func allowedHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	return host == "" || strings.EqualFold(host, "localhost") || net.ParseIP(host) != nil
}

// netAPI is the net namespace.
type netAPI struct{}

// Version is the network id, the chain id as a decimal string.
func (netAPI) Version() string { return fmt.Sprint(ChainID) }

// Listening is false: the devnet has no peers.
func (netAPI) Listening() bool { return false }

// PeerCount is zero: the devnet has no peers.
func (netAPI) PeerCount() hexUint { return 0 }

// gethVersion is the go-ethereum release the chain is built from.
var gethVersion = fmt.Sprintf("v%d.%d.%d", version.Major, version.Minor, version.Patch)

// web3API is the web3 namespace.
type web3API struct{}

// ClientVersion names the devnet.
func (web3API) ClientVersion() string { return "settle-devnet/go-ethereum-" + gethVersion }
