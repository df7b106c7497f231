package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/settlepay/settle/invoice/storetest"
)

// readmeSnippets returns the fenced blocks of lang that follow marker in
// the README's section heading, in order.
func readmeSnippets(t *testing.T, heading, marker, lang string) []string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	start := strings.Index(readme, "\n"+heading+"\n")
	if start < 0 {
		t.Fatalf("README has no section %q", heading)
	}
	section := readme[start+len(heading)+2:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	at := strings.Index(section, marker)
	if at < 0 {
		t.Fatalf("README section %q has no %q", heading, marker)
	}
	var out []string
	rest := section[at:]
	for {
		open := strings.Index(rest, "\n```"+lang+"\n")
		if open < 0 {
			return out
		}
		body := rest[open+len(lang)+5:]
		end := strings.Index(body, "\n```\n")
		if end < 0 {
			t.Fatalf("README: a ```%s block is never closed", lang)
		}
		out = append(out, body[:end+1])
		rest = body[end:]
	}
}

// TestREADMEEmbedSnippet runs the README's embedding example as written: the
// page's HTML is served from a shop on another origin (only the settle
// host, https://pay.example.com, is replaced by a real `settle serve`),
// with a /checkout backend doing what the README's Express route does:
// create the invoice with the secret key and answer invoiceId and session.
// In headless Chromium the checkout must be mounted and show the invoice,
// with no console error; the backend's JavaScript must compile.
func TestREADMEEmbedSnippet(t *testing.T) {
	t.Parallel()
	const heading, settleHost = "## Checkout (the payor's side)", "https://pay.example.com"
	pages := readmeSnippets(t, heading, "**Embedding.**", "html")
	backends := readmeSnippets(t, heading, "**Embedding.**", "js")
	if len(pages) == 0 || len(backends) == 0 {
		t.Fatalf("README: after **Embedding.**, %d html and %d js blocks; want the page and its backend", len(pages), len(backends))
	}
	page, backend := pages[0], backends[0]
	if !strings.Contains(page, settleHost+"/embed.js") || !strings.Contains(backend, settleHost+"/api/v1/invoices") {
		t.Fatalf("the README's example no longer loads %s: update this test with it", settleHost)
	}

	alloc := browser(t)
	db := storetest.Open(t, "sqlite")
	key := e2eJSON(t, "merchants", "create", "--name", "Corner Café", "--database-url", db.URL)["test_api_key"].(string)
	api, stop := e2eServe(t, db.URL)
	defer stop()

	// The shop: the README's page, and its backend's /checkout in Go.
	var mu sync.Mutex
	var orders []string
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, "<!doctype html>\n<meta charset=\"utf-8\">\n<title>Shop</title>\n"+strings.ReplaceAll(page, settleHost, api))
		case r.Method == http.MethodPost && r.URL.Path == "/checkout":
			var in struct {
				OrderID string `json:"orderId"`
			}
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.OrderID == "" {
				http.Error(w, "want a JSON body with orderId", http.StatusBadRequest)
				return
			}
			mu.Lock()
			orders = append(orders, in.OrderID)
			mu.Unlock()
			body, _ := json.Marshal(map[string]string{"amount": "25.00", "currency": "USD", "merchant_order_id": in.OrderID})
			req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, api+"/api/v1/invoices", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", in.OrderID)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			var inv map[string]any
			json.Unmarshal(raw, &inv)
			w.Header().Set("Content-Type", "application/json")
			if res.StatusCode != http.StatusCreated {
				w.WriteHeader(http.StatusBadGateway)
				w.Write(raw)
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"invoiceId": inv["id"], "session": inv["payment_session_headers"]})
		default:
			http.NotFound(w, r)
		}
	}))
	defer shop.Close()

	// Another site than the settle server's (127.0.0.1), so that the
	// checkout's iframe is a target of its own to look into.
	shopURL := strings.Replace(shop.URL, "127.0.0.1", "localhost", 1)
	ctx := tab(t, alloc, 60*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(shopURL)); err != nil {
		t.Fatal(err)
	}
	// The backend's code compiles (as a CommonJS module's body: no
	// top-level await); it is not run, Express is not here.
	src, _ := json.Marshal(backend)
	if msg := eval[string](t, ctx, fmt.Sprintf(`(() => { try { new Function('require', 'process', %s); return ''; } catch (e) { return String(e); } })()`, src)); msg != "" {
		t.Errorf("the README's backend snippet does not compile: %s", msg)
	}
	await(t, ctx, "the checkout mounted and sized to its content",
		`(() => { const f = document.querySelector('#pay iframe'); return !!f && f.style.height !== '640px'; })()`)
	mu.Lock()
	if len(orders) != 1 {
		t.Errorf("the page asked /checkout %d times, want once: %v", len(orders), orders)
	}
	mu.Unlock()

	frame := checkoutFrame(t, ctx, api)
	await(t, frame, "the embedded checkout shows the invoice", fmt.Sprintf("(%s)('#pick') && document.getElementById('merchant').textContent === 'Corner Café'", visible))
	if got := eval[string](t, frame, `document.getElementById('amount').textContent`); !strings.Contains(got, "25.00") {
		t.Errorf("amount %q", got)
	}
}
