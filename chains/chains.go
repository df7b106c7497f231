// Package chains is the catalogue of networks and payment methods settle
// can watch, and the contract every watcher reports through. The watchers
// themselves live in subpackages (EVM, Solana, fiat rails, the devnet chain);
// this package holds no RPC code.
package chains

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/settlepay/settle/invoice"
)

// Watcher follows one network until ctx ends.
type Watcher interface {
	Run(ctx context.Context) error
}

// Kind is the family of a network, which decides its watcher.
type Kind string

// Kinds.
const (
	KindSandbox Kind = "sandbox"
	KindEVM     Kind = "evm"
	KindSolana  Kind = "solana"
	// KindRail is an instant fiat rail (FedNow, RTP, Same-Day ACH,
	// push-to-card, QRIS): no RPC endpoint, payments arrive as the rail's
	// own signed notifications (package chains/fiat). Rails serve both
	// modes: test-mode payments are simulated, live ones notified.
	KindRail Kind = "rail"
)

// Network is a chain (or the sandbox) with its settings.
type Network struct {
	ID            string
	Name          string
	Kind          Kind
	Mode          invoice.Mode // "" for a rail: both modes
	ChainID       int64        // EVM only
	Genesis       string       // Solana only: the cluster's genesis hash, checked on start
	Confirmations int          // depth at which a payment is confirmed
	Explorer      string       // transaction URL prefix, "" if none
	// ExplorerSuffix follows the transaction id in an explorer URL (a
	// cluster parameter).
	ExplorerSuffix string
}

// TxURL returns the explorer page of transaction tx, or "" when the
// network has no explorer.
func (n Network) TxURL(tx string) string {
	if n.Explorer == "" {
		return ""
	}
	return n.Explorer + tx + n.ExplorerSuffix
}

// Method is a way to pay: one asset on one network.
type Method struct {
	ID       string // <asset>_<network>, or "sandbox"
	Network  string
	Asset    string       // USDC, USDT, or the invoice currency for the sandbox
	Token    string       // contract address or mint; "" for the sandbox
	Decimals int          // of the asset; 0 for the sandbox (the invoice's own)
	Mode     invoice.Mode // "" for a rail method: both modes
	Label    string
	// Currencies are the invoice currencies the method can settle at par.
	// Nil means every currency (the sandbox).
	Currencies []invoice.Currency
}

// InMode reports whether the method can pay invoices of mode.
func (m Method) InMode(mode invoice.Mode) bool { return m.Mode == "" || m.Mode == mode }

// Accepts reports whether the method can pay an invoice in currency c.
func (m Method) Accepts(c invoice.Currency) bool {
	return m.Currencies == nil || slices.Contains(m.Currencies, c)
}

// Sandbox is the test-mode method that needs no chain: payments are
// simulated through the API.
const Sandbox = "sandbox"

var (
	usd = []invoice.Currency{"USD"}
	idr = []invoice.Currency{"IDR"}
)

// networks are the presets (DESIGN.md, "Payment detection").
var networks = []Network{
	{ID: "sandbox", Name: "Sandbox", Kind: KindSandbox, Mode: invoice.ModeTest},
	{ID: "ethereum", Name: "Ethereum", Kind: KindEVM, Mode: invoice.ModeLive, ChainID: 1, Confirmations: 12, Explorer: "https://etherscan.io/tx/"},
	{ID: "base", Name: "Base", Kind: KindEVM, Mode: invoice.ModeLive, ChainID: 8453, Confirmations: 10, Explorer: "https://basescan.org/tx/"},
	{ID: "polygon", Name: "Polygon", Kind: KindEVM, Mode: invoice.ModeLive, ChainID: 137, Confirmations: 64, Explorer: "https://polygonscan.com/tx/"},
	{ID: "arbitrum", Name: "Arbitrum One", Kind: KindEVM, Mode: invoice.ModeLive, ChainID: 42161, Confirmations: 20, Explorer: "https://arbiscan.io/tx/"},
	{ID: "sepolia", Name: "Sepolia", Kind: KindEVM, Mode: invoice.ModeTest, ChainID: 11155111, Confirmations: 3, Explorer: "https://sepolia.etherscan.io/tx/"},
	{ID: "base_sepolia", Name: "Base Sepolia", Kind: KindEVM, Mode: invoice.ModeTest, ChainID: 84532, Confirmations: 3, Explorer: "https://sepolia.basescan.org/tx/"},
	{ID: "polygon_amoy", Name: "Polygon Amoy", Kind: KindEVM, Mode: invoice.ModeTest, ChainID: 80002, Confirmations: 3, Explorer: "https://amoy.polygonscan.com/tx/"},
	{ID: "arbitrum_sepolia", Name: "Arbitrum Sepolia", Kind: KindEVM, Mode: invoice.ModeTest, ChainID: 421614, Confirmations: 3, Explorer: "https://sepolia.arbiscan.io/tx/"},
	{ID: "devnet", Name: "settle devnet", Kind: KindEVM, Mode: invoice.ModeTest, ChainID: 1337, Confirmations: 1},
	{ID: "solana", Name: "Solana", Kind: KindSolana, Mode: invoice.ModeLive, Genesis: "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d",
		Confirmations: 1, Explorer: "https://explorer.solana.com/tx/"},
	{ID: "solana_devnet", Name: "Solana devnet", Kind: KindSolana, Mode: invoice.ModeTest, Genesis: "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG",
		Confirmations: 1, Explorer: "https://explorer.solana.com/tx/", ExplorerSuffix: "?cluster=devnet"},
	// Instant rails are final when notified: no confirmations to wait for.
	{ID: "fednow", Name: "FedNow", Kind: KindRail},
	{ID: "rtp", Name: "RTP", Kind: KindRail},
	{ID: "ach", Name: "Same-Day ACH", Kind: KindRail},
	{ID: "push_to_card", Name: "Push to card", Kind: KindRail},
	{ID: "qris", Name: "QRIS", Kind: KindRail},
}

// methods are the presets' stablecoins.
var methods = []Method{
	{ID: Sandbox, Network: "sandbox", Mode: invoice.ModeTest, Label: "Sandbox (simulated payment)"},
	stable("usdc", "ethereum", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"),
	stable("usdt", "ethereum", "0xdAC17F958D2ee523a2206206994597C13D831ec7"),
	stable("usdc", "base", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"),
	stable("usdc", "polygon", "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359"),
	stable("usdt", "polygon", "0xc2132D05D31c914a87C6611C10748AEb04B58e8F"),
	stable("usdc", "arbitrum", "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"),
	stable("usdt", "arbitrum", "0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9"),
	stable("usdc", "sepolia", "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238"),
	stable("usdc", "base_sepolia", "0x036CbD53842c5426634e7929541eC2318f3dCF7e"),
	stable("usdc", "polygon_amoy", "0x41E94Eb019C0762f9Bfcf9Fb1E58725BfB0e7582"),
	stable("usdc", "arbitrum_sepolia", "0x75faf114eafb1BDbe2F0316DF893fd58CE46AA4d"),
	// chains/devchain deploys its token from the devnet wallet's first
	// transaction, so it always lands at this address.
	stable("usdc", "devnet", "0x5FbDB2315678afecb367f032d93F642f64180aa3"),
	stable("usdc", "solana", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"),
	stable("usdc", "solana_devnet", "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"),
	// Fiat rails settle their own currency at its decimals. Their ids name
	// the rail, not <asset>_<network>.
	{ID: "fednow", Network: "fednow", Asset: "USD", Decimals: 2, Label: "FedNow instant transfer", Currencies: usd},
	{ID: "rtp", Network: "rtp", Asset: "USD", Decimals: 2, Label: "RTP instant transfer", Currencies: usd},
	{ID: "ach_same_day", Network: "ach", Asset: "USD", Decimals: 2, Label: "Same-Day ACH credit", Currencies: usd},
	{ID: "push_to_card", Network: "push_to_card", Asset: "USD", Decimals: 2, Label: "Push from your card (Visa Direct, Mastercard Send)", Currencies: usd},
	{ID: "qris", Network: "qris", Asset: "IDR", Decimals: 0, Label: "QRIS (Indonesian e-wallets and banks)", Currencies: idr},
}

func stable(asset, network, token string) Method {
	n, _ := NetworkByID(network)
	upper := map[string]string{"usdc": "USDC", "usdt": "USDT"}[asset]
	return Method{
		ID: asset + "_" + network, Network: network, Asset: upper, Token: token, Decimals: 6,
		Mode: n.Mode, Label: upper + " on " + n.Name, Currencies: usd,
	}
}

// NetworkByID returns the preset network with id.
func NetworkByID(id string) (Network, bool) {
	for _, n := range networks {
		if n.ID == id {
			return n, true
		}
	}
	return Network{}, false
}

// MethodByID returns the method with id.
func MethodByID(id string) (Method, bool) {
	for _, m := range methods {
		if m.ID == id {
			return m, true
		}
	}
	return Method{}, false
}

// Methods lists every method in catalogue order.
func Methods() []Method { return slices.Clone(methods) }

// Endpoint is how settle reaches a network, and how deep it waits there.
type Endpoint struct {
	HTTP string // JSON-RPC over http(s): the first provider
	// Providers are every http(s) JSON-RPC provider, HTTP first; with more
	// than one, calls fail over between them (EVM networks).
	Providers []string
	// Quorum: a block read by number is trusted only when two providers
	// agree on its hash.
	Quorum bool
	WS     string // JSON-RPC over ws(s), for head subscriptions; optional
	// Confirmations overrides the preset depth when > 0.
	Confirmations int
	// Finalized confirms at the network's `finalized` block tag instead of
	// at a depth.
	Finalized bool
	// Commitment is the Solana commitment at which a payment is confirmed:
	// CommitmentFinalized (also when "") or CommitmentConfirmed. A payment
	// seen at a lower commitment is pending.
	Commitment string
}

// Solana commitments a payment can be confirmed at.
const (
	CommitmentFinalized = "finalized"
	CommitmentConfirmed = "confirmed"
)

// Catalogue is the presets narrowed to the networks this instance reaches:
// a network without an RPC endpoint (or refused at start) is not offered.
// The sandbox is always offered in test mode.
type Catalogue struct {
	mu        sync.RWMutex
	endpoints map[string]Endpoint
	tokens    map[string]string // network → token, overriding the preset
}

// NewCatalogue returns the catalogue for the given endpoints, by network id.
// Unknown network ids are an error.
func NewCatalogue(endpoints map[string]Endpoint) (*Catalogue, error) {
	c := &Catalogue{endpoints: map[string]Endpoint{}, tokens: map[string]string{}}
	for id, e := range endpoints {
		if n, ok := NetworkByID(id); !ok || id == Sandbox || n.Kind == KindRail {
			return nil, fmt.Errorf("unknown network %q", id)
		}
		c.endpoints[id] = e
	}
	return c, nil
}

// SetToken overrides the token contract of network's methods (a devnet
// whose token was deployed elsewhere).
func (c *Catalogue) SetToken(network, token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokens[network] = token
}

// Refuse stops offering network (its RPC is not the chain it claims).
func (c *Catalogue) Refuse(network string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.endpoints, network)
}

// Endpoints returns the networks offered, with their endpoints.
func (c *Catalogue) Endpoints() map[string]Endpoint {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return maps.Clone(c.endpoints)
}

// Offered reports whether network can take payments here. The sandbox and
// the fiat rails always can: they need no endpoint (a rail method still
// needs the merchant's rail account, checked when an invoice is created).
func (c *Catalogue) Offered(network string) bool {
	if n, ok := NetworkByID(network); ok && (n.Kind == KindSandbox || n.Kind == KindRail) {
		return true
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.endpoints[network]
	return ok
}

// Network returns the preset network with this instance's overrides.
func (c *Catalogue) Network(id string) (Network, bool) {
	n, ok := NetworkByID(id)
	if !ok {
		return n, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e := c.endpoints[id]; e.Confirmations > 0 {
		n.Confirmations = e.Confirmations
	}
	return n, true
}

// Method returns the method with id, its token filled in.
func (c *Catalogue) Method(id string) (Method, bool) {
	m, ok := MethodByID(id)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if t := c.tokens[m.Network]; ok && t != "" {
		m.Token = t
	}
	return m, ok
}

// MethodForToken returns the method paying with token on network.
func (c *Catalogue) MethodForToken(network, token string) (Method, bool) {
	for _, m := range methods {
		if m.Network != network {
			continue
		}
		if m, _ = c.Method(m.ID); m.Token != "" && strings.EqualFold(m.Token, token) {
			return m, true
		}
	}
	return Method{}, false
}

// Tokens returns the token contracts watched on network.
func (c *Catalogue) Tokens(network string) []string {
	var out []string
	for _, m := range methods {
		if m.Network == network {
			if m, _ = c.Method(m.ID); m.Token != "" {
				out = append(out, m.Token)
			}
		}
	}
	return out
}

// Choose returns the payment methods for a new invoice of mode and currency:
// the requested ones, each checked to exist, to be offered here, to be of the
// invoice's mode and to settle its currency; or, when none are requested,
// every such method. The sandbox is always offered in test mode.
func (c *Catalogue) Choose(mode invoice.Mode, currency invoice.Currency, requested []string) ([]string, error) {
	fail := func(format string, args ...any) error {
		return &invoice.ValidationError{Fields: []*invoice.FieldError{{
			Field: "payment_methods", Code: "invalid_payment_method", Rule: fmt.Sprintf(format, args...),
		}}}
	}
	if len(requested) == 0 {
		var out []string
		for _, m := range methods {
			if m.InMode(mode) && m.Accepts(currency) && c.Offered(m.Network) {
				out = append(out, m.ID)
			}
		}
		if len(out) == 0 {
			return nil, fail("no %s payment method settles %s here", mode, currency)
		}
		return out, nil
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(requested))
	for _, id := range requested {
		m, ok := MethodByID(id)
		switch {
		case !ok:
			return nil, fail("unknown payment method %q", id)
		case !m.InMode(mode):
			return nil, fail("payment method %q is for %s mode, this key is %s mode", id, m.Mode, mode)
		case !m.Accepts(currency):
			return nil, fail("payment method %q cannot settle %s", id, currency)
		case !c.Offered(m.Network):
			return nil, fail("payment method %q is not offered here: network %s has no RPC endpoint configured", id, m.Network)
		case seen[id]:
			return nil, fail("payment method %q is listed twice", id)
		}
		seen[id] = true
		out = append(out, id)
	}
	if mode == invoice.ModeTest && !seen[Sandbox] {
		out = append([]string{Sandbox}, out...)
	}
	return out, nil
}

// Networks lists every preset network in catalogue order.
func Networks() []Network { return slices.Clone(networks) }
