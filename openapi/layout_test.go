package openapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// listed is the part of `go list -json` the layout tests read.
type listed struct {
	ImportPath string
	Name       string
	Doc        string
	Dir        string
	Standard   bool
	Imports    []string
}

// goList runs `go list -json args…` at the module root and decodes its
// stream of packages.
func goList(t *testing.T, args ...string) []listed {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = ".." // the module root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.Bytes())
	}
	var pkgs []listed
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// forbidden reports whether domain package name may not depend on path.
// No domain package serves an API (huma); invoice, the core, does not
// touch HTTP at all. chains and events are clients of the outside world
// over HTTP (RPC nodes; merchants' webhook endpoints), so net/http's client
// is theirs to use; serving HTTP stays with openapi and payor.
func forbidden(name, path string) bool {
	huma := path == "github.com/danielgtaylor/huma" || strings.HasPrefix(path, "github.com/danielgtaylor/huma/")
	nethttp := path == "net/http" || strings.HasPrefix(path, "net/http/")
	return huma || name == "invoice" && nethttp
}

// TestDomainImportsNoHTTP keeps the domain packages, and everything they
// build on, free of huma, and invoice free of net/http too.
func TestDomainImportsNoHTTP(t *testing.T) {
	t.Parallel()
	const module = "github.com/settlepay/settle/"
	for _, name := range []string{"invoice", "chains", "events"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pkgs := goList(t, "-deps", "./"+name)
			byPath := map[string]listed{}
			for _, p := range pkgs {
				byPath[p.ImportPath] = p
			}
			if _, ok := byPath[module+name]; !ok {
				t.Fatalf("go list did not report %s", module+name)
			}
			for _, p := range pkgs {
				if forbidden(name, p.ImportPath) {
					t.Errorf("%s depends on %s: %s", name, p.ImportPath, strings.Join(importChain(byPath, module+name, p.ImportPath), " → "))
				}
			}
		})
	}
}

// importChain finds one chain of imports from one package to another.
func importChain(pkgs map[string]listed, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var chain []string
			for ; p != ""; p = prev[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, imp := range pkgs[p].Imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return []string{from, "…", to}
}

// TestPackageDocs requires every package of the module to say what it is
// for in a package doc comment.
func TestPackageDocs(t *testing.T) {
	t.Parallel()
	pkgs := goList(t, "./...")
	if len(pkgs) < 5 {
		t.Fatalf("go list ./... found only %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		want := "Package " + p.Name + " "
		if p.Name == "main" {
			want = "Command "
		}
		switch {
		case p.Doc == "":
			t.Errorf("%s has no package doc comment", p.ImportPath)
		case !strings.HasPrefix(p.Doc, want):
			t.Errorf("%s: doc comment %q does not start with %q", p.ImportPath, p.Doc, want)
		}
	}
}

// TestTopLevelLayout keeps the top level of the repository to the folders
// DESIGN.md fixes.
func TestTopLevelLayout(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"chains", "cmd", "events", "invoice", "migrations", "openapi", "payor"}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			dirs = append(dirs, e.Name())
		}
	}
	if !slices.Equal(dirs, want) {
		t.Errorf("top-level folders %v, want %v", dirs, want)
	}
}
