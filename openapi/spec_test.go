package openapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/settlepay/settle/invoice/storetest"
	"github.com/settlepay/settle/openapi"
)

var update = flag.Bool("update", false, "rewrite openapi/openapi.yaml from the code")

// TestSpec keeps the checked-in openapi.yaml equal to what the code
// generates; run `go test ./openapi -run TestSpec -update` after changing
// the API.
func TestSpec(t *testing.T) {
	t.Parallel()
	spec, err := openapi.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("openapi.yaml", spec, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, spec) {
		t.Errorf("openapi/openapi.yaml is not what the code generates; run `go test ./openapi -run TestSpec -update` and review the diff")
	}
}

// specDoc is the part of an OpenAPI document the checks below read.
type specDoc struct {
	OpenAPI string `json:"openapi"`
	Info    struct {
		License struct{ Name string } `json:"license"`
	} `json:"info"`
	Servers []struct{ URL string }                `json:"servers"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
	Comps   struct {
		Schemas map[string]schema `json:"schemas"`
	} `json:"components"`
}

type operation struct {
	OperationID string      `json:"operationId"`
	Summary     string      `json:"summary"`
	Tags        []string    `json:"tags"`
	Parameters  []parameter `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Schema schema `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content map[string]struct {
			Schema schema `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

type parameter struct {
	Name string `json:"name"`
	In   string `json:"in"`
}

type schema struct {
	Ref        string            `json:"$ref"`
	Properties map[string]schema `json:"properties"`
	Examples   []any             `json:"examples"`
	Format     string            `json:"format"`
	Type       any               `json:"type"`
}

// TestSpecServed checks that the running API serves its description and
// docs, and that the description documents every operation fully.
func TestSpecServed(t *testing.T) {
	t.Parallel()
	storetest.ForEachDB(t, func(t *testing.T, db storetest.DB) {
		e := setup(t, db)
		spec, err := openapi.Spec()
		if err != nil {
			t.Fatal(err)
		}
		yml := e.mustStatus(e.do("GET", "/openapi.yaml", "", nil), http.StatusOK)
		if !bytes.Equal(yml.Raw, spec) {
			t.Errorf("/openapi.yaml differs from openapi.Spec()")
		}
		docs := e.mustStatus(e.do("GET", "/docs", "", nil), http.StatusOK)
		if ct := docs.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !bytes.Contains(docs.Raw, []byte("/openapi")) ||
			!strings.HasPrefix(docs.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("/docs is %s (CSP %q): %.200s", ct, docs.Header.Get("Content-Security-Policy"), docs.Raw)
		}
		raw := e.mustStatus(e.do("GET", "/openapi.json", "", nil), http.StatusOK).Raw
		var doc specDoc
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(doc.OpenAPI, "3.1") {
			t.Errorf("openapi %q, want 3.1", doc.OpenAPI)
		}
		// Without a public URL, the server is the one the spec is read
		// from; `settle serve` names its SETTLE_PUBLIC_URL (cmd/settle
		// TestDocsInBrowser).
		if len(doc.Servers) != 1 || doc.Servers[0].URL != openapi.DefaultServer || doc.Info.License.Name != openapi.License {
			t.Errorf("servers %+v, license %q", doc.Servers, doc.Info.License.Name)
		}
		checkOperations(t, doc)
	})
}

func checkOperations(t *testing.T, doc specDoc) {
	t.Helper()
	resolve := func(s schema) schema {
		if name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/"); ok {
			return doc.Comps.Schemas[name]
		}
		return s
	}
	wantOps := []string{"cancel-invoice", "create-invoice", "get-event", "get-invoice", "get-invoice-status",
		"list-events", "list-invoices", "simulate-payment", "get-payor-session", "choose-payor-method", "get-payor-qr"}
	var ids []string
	for path, methods := range doc.Paths {
		for method, raw := range methods {
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				continue // path-level fields such as parameters
			}
			name := strings.ToUpper(method) + " " + path
			ids = append(ids, op.OperationID)
			if op.OperationID == "" || op.Summary == "" || len(op.Tags) == 0 {
				t.Errorf("%s: operationId %q, summary %q, tags %v", name, op.OperationID, op.Summary, op.Tags)
			}
			var errs []string
			for status, res := range op.Responses {
				if status[0] == '2' {
					for ct, c := range res.Content {
						if (strings.HasPrefix(ct, "image/") || ct == "text/csv" || ct == "application/xml") && resolve(c.Schema).Type == "string" {
							continue // QR codes, CSV reports, pain.013 requests
						}
						if ct != "application/json" || resolve(c.Schema).Properties == nil {
							t.Errorf("%s: %s response is %s without an object schema", name, status, ct)
						}
					}
					continue
				}
				errs = append(errs, status)
				if _, ok := res.Content["application/problem+json"]; !ok && status != "default" {
					t.Errorf("%s: error %s is not application/problem+json", name, status)
				}
			}
			if !slices.Contains(errs, "401") || !slices.Contains(errs, "422") {
				t.Errorf("%s: documented errors %v, want at least 401 and 422", name, errs)
			}
			// The payor's POSTs carry no API key to scope a stored response
			// by; choosing a method again returns the same instructions,
			// and a devnet payment is test money.
			merchant := !slices.Contains(op.Tags, "Payor")
			// The rails post their own formats (ISO 20022 XML, NACHA,
			// signed JSON), authenticated by a callback secret, and are
			// de-duplicated by the rail's own transaction ids.
			if slices.Contains(op.Tags, "Rail notifications") {
				continue
			}
			if merchant && method == "post" && !slices.ContainsFunc(op.Parameters, func(p parameter) bool {
				return p.Name == "Idempotency-Key" && p.In == "header"
			}) {
				t.Errorf("%s: no Idempotency-Key header", name)
			}
			if merchant && method == "post" && !slices.Contains(errs, "409") {
				t.Errorf("%s: POST without 409 (idempotency_conflict)", name)
			}
			if op.RequestBody == nil {
				continue
			}
			body := resolve(op.RequestBody.Content["application/json"].Schema)
			if len(body.Properties) == 0 {
				t.Errorf("%s: request body has no properties", name)
			}
			for prop, s := range body.Properties {
				s = resolve(s)
				if len(s.Examples) == 0 {
					t.Errorf("%s: body property %s has no example", name, prop)
				}
			}
		}
	}
	slices.Sort(ids)
	if missing := slices.DeleteFunc(slices.Clone(wantOps), func(id string) bool { return slices.Contains(ids, id) }); len(missing) > 0 {
		t.Errorf("operations %v lack %v", ids, missing)
	}
	problem := doc.Comps.Schemas["Problem"]
	for _, field := range []string{"type", "title", "status", "code", "detail", "instance", "errors"} {
		if _, ok := problem.Properties[field]; !ok {
			t.Errorf("Problem schema lacks %s: %v", field, keysOf(problem.Properties))
		}
	}
}

func keysOf(m map[string]schema) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
