package openapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/settlepay/settle/chains"
	"github.com/settlepay/settle/invoice"
)

// NetworkObject is one network of the catalogue with its payment methods.
type NetworkObject struct {
	ID            string         `json:"id" example:"base_sepolia"`
	Object        string         `json:"object" enum:"network"`
	Name          string         `json:"name" example:"Base Sepolia"`
	Kind          string         `json:"kind" enum:"sandbox,evm,solana,rail"`
	Mode          invoice.Mode   `json:"mode" enum:"test,live"`
	ChainID       int64          `json:"chain_id,omitempty" example:"84532"`
	Confirmations int            `json:"confirmations" example:"3"`
	Offered       bool           `json:"offered" doc:"Whether this instance watches the network (it has an RPC endpoint for it); methods of networks not offered cannot be put on invoices."`
	Methods       []MethodObject `json:"methods" nullable:"false"`
}

// MethodObject is a way to pay: one asset on one network.
type MethodObject struct {
	ID       string `json:"id" example:"usdc_base_sepolia"`
	Label    string `json:"label" example:"USDC on Base Sepolia"`
	Asset    string `json:"asset" example:"USDC"`
	Token    string `json:"token,omitempty" example:"0x036CbD53842c5426634e7929541eC2318f3dCF7e"`
	Decimals int    `json:"decimals" example:"6"`
}

// NetworkList is the catalogue for the key's mode.
type NetworkList struct {
	Object string          `json:"object" enum:"list"`
	Data   []NetworkObject `json:"data" nullable:"false"`
}

func (s *server) registerNetworks(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "list-networks", Method: http.MethodGet, Path: "/api/v1/networks",
		Summary: "List networks and payment methods", Tags: []string{"Receiving accounts"}, Errors: errsRead,
		Description: "The catalogue for the key's mode: every preset network, whether this instance offers it, and its methods (asset, token contract, decimals).",
	}, s.listNetworks)
}

func (s *server) listNetworks(ctx context.Context, _ *struct{}) (*struct{ Body NetworkList }, error) {
	p := principal(ctx)
	cat := s.ledger.Catalogue()
	out := NetworkList{Object: "list", Data: []NetworkObject{}}
	for _, n := range chains.Networks() {
		if n.Mode != "" && n.Mode != p.Mode { // rails ("") serve both modes
			continue
		}
		n, _ = cat.Network(n.ID)
		o := NetworkObject{
			ID: n.ID, Object: "network", Name: n.Name, Kind: string(n.Kind), Mode: p.Mode, ChainID: n.ChainID,
			Confirmations: n.Confirmations, Offered: cat.Offered(n.ID), Methods: []MethodObject{},
		}
		for _, m := range chains.Methods() {
			if m.Network == n.ID {
				m, _ = cat.Method(m.ID)
				o.Methods = append(o.Methods, MethodObject{ID: m.ID, Label: m.Label, Asset: m.Asset, Token: m.Token, Decimals: m.Decimals})
			}
		}
		out.Data = append(out.Data, o)
	}
	return &struct{ Body NetworkList }{out}, nil
}
