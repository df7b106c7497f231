package openapi

import "github.com/danielgtaylor/huma/v2"

// registerWebhooks adds the webhook endpoint and delivery operations.
func (s *server) registerWebhooks(api huma.API) {}
