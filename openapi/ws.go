package openapi

import (
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// registerWS adds the merchant WebSocket and its tokens.
func (s *server) registerWS(api huma.API, mux *http.ServeMux) {}
