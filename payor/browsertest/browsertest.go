// Package browsertest drives headless Chromium for the tests of the pages
// settle serves (the hosted checkout, the embedded widget, the QR waiting
// page, the cashier screen), as invoice/storetest opens their databases.
// Tests skip without Chromium unless SETTLE_REQUIRE_BROWSER is set (CI).
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser starts headless Chromium (SETTLE_CHROMIUM, else the first of
// chromium, chromium-browser and google-chrome on PATH) for the test and
// returns its allocator; the test is skipped when there is none, unless
// SETTLE_REQUIRE_BROWSER is set, when it fails.
func Browser(t testing.TB) context.Context {
	t.Helper()
	path := os.Getenv("SETTLE_CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		if os.Getenv("SETTLE_REQUIRE_BROWSER") != "" {
			t.Fatal("no Chromium found (install Debian's chromium, or set SETTLE_CHROMIUM)")
		}
		t.Skip("no Chromium found; install Debian's chromium to run the browser tests")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-background-networking", true),
	)
	ctx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	return ctx
}

// Tab opens a new tab of alloc, ended after timeout, that fails the test
// on console errors (a CSP violation, a script error, a failed request)
// and on uncaught exceptions, except log entries that contain one of
// ignore.
func Tab(t testing.TB, alloc context.Context, timeout time.Duration, ignore ...string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancelTimeout)
	var mu sync.Mutex
	var problems []string
	chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			if d.Exception != nil {
				problems = append(problems, "exception: "+d.Text+" "+d.Exception.Description)
			} else {
				problems = append(problems, "exception: "+d.Text)
			}
		case *cdplog.EventEntryAdded:
			if e := ev.Entry; e.Level == cdplog.EntryLevelError && !strings.HasSuffix(e.URL, "/favicon.ico") &&
				!slices.ContainsFunc(ignore, func(s string) bool { return strings.Contains(e.Text, s) }) {
				problems = append(problems, fmt.Sprintf("%s: %s %s", e.Source, e.Text, e.URL))
			}
		}
	})
	enable := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cdplog.Enable, cdp.Empty{})
		return err
	})
	if err := chromedp.Do(ctx, enable); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("browser: %s", p)
		}
	})
	return ctx
}

// Await polls a JavaScript expression until it is true, and fails the
// test with the page's text after timeout.
func Await(t testing.TB, ctx context.Context, timeout time.Duration, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout))); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
		t.Fatalf("%s (%s): %v\npage text:\n%s", what, expr, err, page)
	}
}

// Eval evaluates a JavaScript expression in the page.
func Eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}
