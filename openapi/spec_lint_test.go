package openapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// lintAccepted are the warnings of Redocly's recommended rules that the
// spec keeps, each for a reason:
//   - info-license-strict: the licence names no SPDX identifier or URL, as
//     the repository has no LICENSE file yet (see openapi.License);
//   - no-unused-components: EventMessage is what the merchant WebSocket
//     sends, which no OpenAPI operation can describe; create-ws-token's
//     description points to it.
var lintAccepted = []string{"info-license-strict", "no-unused-components"}

// TestSpecLint runs the external linter Redocly CLI (`redocly lint`, its
// recommended rules) on openapi.yaml when SETTLE_REDOCLY names its binary,
// for example node_modules/.bin/redocly after `npm install @redocly/cli` in
// a folder outside the repository. Any error fails, and so does any warning
// of a rule not in lintAccepted.
func TestSpecLint(t *testing.T) {
	bin := os.Getenv("SETTLE_REDOCLY")
	if bin == "" {
		t.Skip("SETTLE_REDOCLY is not set: the Redocly CLI lint does not run")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "lint", "--format=json", "openapi.yaml")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	runErr := cmd.Run() // exits 1 when there are errors: the report says which
	var report struct {
		Totals   struct{ Errors, Warnings int } `json:"totals"`
		Version  string                         `json:"version"`
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
			Location []struct {
				Pointer string `json:"pointer"`
			} `json:"location"`
		} `json:"problems"`
	}
	if err := json.Unmarshal(out.Bytes(), &report); err != nil {
		t.Fatalf("redocly lint: %v (%v)\n%s\n%s", err, runErr, out.String(), errOut.String())
	}
	t.Logf("Redocly CLI %s: %d errors, %d warnings", report.Version, report.Totals.Errors, report.Totals.Warnings)
	for _, p := range report.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		if p.Severity == "warn" && slices.Contains(lintAccepted, p.RuleID) {
			t.Logf("accepted warning %s at %s: %s", p.RuleID, where, p.Message)
			continue
		}
		t.Errorf("%s %s at %s: %s", p.Severity, p.RuleID, where, p.Message)
	}
	if report.Totals.Errors > 0 && len(report.Problems) == 0 {
		t.Errorf("%d errors reported without details", report.Totals.Errors)
	}
}
