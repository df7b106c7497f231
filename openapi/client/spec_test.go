package client_test

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v2"

	"github.com/settlepay/settle/openapi/client"
)

// spec is the part of openapi/openapi.yaml, the contract, that the client
// is checked against.
type spec struct {
	Paths      map[string]map[string]specOperation `yaml:"paths"`
	Components struct {
		Schemas map[string]specSchema `yaml:"schemas"`
	} `yaml:"components"`
	// railOnly are the schemas that only rail notification operations use.
	railOnly map[string]bool
}

type specOperation struct {
	OperationID string `yaml:"operationId"`
	Description string `yaml:"description"`
	Parameters  []struct {
		Name string `yaml:"name"`
		In   string `yaml:"in"`
	} `yaml:"parameters"`
	Security *[]map[string][]string `yaml:"security"` // nil: the document's (the API key)
	Tags     []string               `yaml:"tags"`
}

// railNotifications tags the operations the rails themselves call: banks
// post ISO 20022 and NACHA files, card processors push-to-card credits and
// QRIS forwarders or aggregators e-wallet notifications, each authenticated
// by a rail account's callback secret, never an API key. A merchant's
// backend does not call them (it creates the rail account and hands the
// secret to the bank, processor or forwarder), so the client has no method
// for them, nor types for the schemas only they use. Every other operation
// and schema must still be in the client.
const railNotifications = "Rail notifications"

// byRails reports whether the rails, not a merchant, call so.
func (so specOperation) byRails() bool { return slices.Contains(so.Tags, railNotifications) }

type specSchema struct {
	Properties map[string]any `yaml:"properties"`
	Required   []string       `yaml:"required"`
}

func readSpec() (*spec, error) {
	raw, err := os.ReadFile("../openapi.yaml")
	if err != nil {
		return nil, err
	}
	var s spec
	if err := yaml.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	var doc struct {
		Paths      map[string]map[string]any `yaml:"paths"`
		Components struct {
			Schemas map[string]any `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	// The schemas the rails' operations reach, less those any other
	// operation reaches too.
	rails, others := map[string]bool{}, map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if s.Paths[path][method].byRails() {
				schemaRefs(op, doc.Components.Schemas, rails)
			} else {
				schemaRefs(op, doc.Components.Schemas, others)
			}
		}
	}
	s.railOnly = map[string]bool{}
	for name := range rails {
		if !others[name] {
			s.railOnly[name] = true
		}
	}
	return &s, nil
}

// schemaRefs adds to seen the schemas that node refers to, and those they
// refer to in turn.
func schemaRefs(node any, schemas map[string]any, seen map[string]bool) {
	switch n := node.(type) {
	case map[any]any:
		for k, v := range n {
			if ref, ok := v.(string); ok && k == "$ref" {
				name, ok := strings.CutPrefix(ref, "#/components/schemas/")
				if ok && !seen[name] {
					seen[name] = true
					schemaRefs(schemas[name], schemas, seen)
				}
				continue
			}
			schemaRefs(v, schemas, seen)
		}
	case map[string]any:
		for _, v := range n {
			schemaRefs(v, schemas, seen)
		}
	case []any:
		for _, v := range n {
			schemaRefs(v, schemas, seen)
		}
	}
}

func loadSpec(t *testing.T) *spec {
	t.Helper()
	s, err := readSpec()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOperationsInSpec: every operation the client calls is in the spec
// with the same path, method and operationId; it takes an Idempotency-Key
// exactly when the client sends one; payor operations need no API key.
func TestOperationsInSpec(t *testing.T) {
	t.Parallel()
	s := loadSpec(t)
	seen := map[string]bool{}
	for _, op := range client.Operations {
		so, ok := s.Paths[op.Path][strings.ToLower(op.Method)]
		if !ok {
			t.Errorf("%s %s (%s) is not in the spec", op.Method, op.Path, op.ID)
			continue
		}
		if so.OperationID != op.ID {
			t.Errorf("%s %s is %q in the spec, %q in the client", op.Method, op.Path, so.OperationID, op.ID)
		}
		keyed := slices.ContainsFunc(so.Parameters, func(p struct {
			Name string `yaml:"name"`
			In   string `yaml:"in"`
		}) bool {
			return p.In == "header" && p.Name == "Idempotency-Key"
		})
		if keyed != op.Keyed {
			t.Errorf("%s: Idempotency-Key in the spec %v, in the client %v", op.ID, keyed, op.Keyed)
		}
		if public := so.Security != nil && len(*so.Security) == 0; public != op.Payor {
			t.Errorf("%s: without API key in the spec %v, in the client %v", op.ID, public, op.Payor)
		}
		if seen[op.ID] {
			t.Errorf("%s twice in the client's table", op.ID)
		}
		seen[op.ID] = true
	}
	// The WebSocket is no operation; create-ws-token documents it.
	if d := s.Paths["/api/v1/ws-tokens"]["post"].Description; !strings.Contains(d, "`GET "+client.WSPath+"`") || !strings.Contains(d, `{"type":"event","event":{…}}`) {
		t.Errorf("the spec no longer documents GET %s as the client uses it", client.WSPath)
	}
	// Every merchant and payor operation of the spec is in the client; the
	// rails' notifications are not (see railNotifications).
	for path, ops := range s.Paths {
		for method, so := range ops {
			if so.byRails() {
				if seen[so.OperationID] {
					t.Errorf("%s is called by the rails, not a merchant: it has no place in the client", so.OperationID)
				}
				continue
			}
			if !seen[so.OperationID] {
				t.Errorf("the spec's %s %s (%s) has no client method", strings.ToUpper(method), path, so.OperationID)
			}
		}
	}
}

// schemaTypes maps the spec's schemas to the client's types.
var schemaTypes = map[string]any{
	"AccountObject": client.ReceivingAccount{}, "AttemptObject": client.WebhookAttempt{},
	"CreateInvoiceBody": client.CreateInvoiceParams{}, "CreateReceivingAccountBody": client.CreateReceivingAccountParams{},
	"CreateWebhookEndpointBody": client.CreateWebhookEndpointParams{}, "DeletedReceivingAccount": client.DeletedReceivingAccount{},
	"DeletedWebhookEndpoint": client.DeletedWebhookEndpoint{}, "DeliveryObject": client.WebhookDelivery{},
	"EndpointObject": client.WebhookEndpoint{}, "ErrorDetail": client.ErrorDetail{}, "Event": client.Event{},
	"EventList": client.EventList{}, "Instruction": client.Instruction{}, "InstructionsView": client.PaymentInstructions{},
	"InvoiceList": client.InvoiceList{}, "InvoiceObject": client.Invoice{}, "InvoiceStatus": client.InvoiceStatus{},
	"MerchantView": client.PayorMerchant{}, "MethodObject": client.Method{}, "MethodView": client.PayorMethod{},
	"NetworkList": client.NetworkList{}, "NetworkObject": client.Network{}, "PaymentObject": client.Payment{},
	"PaymentView": client.PayorPayment{}, "Problem": client.Problem{}, "ReceivingAccountList": client.ReceivingAccountList{},
	"SessionHeaders": client.SessionHeaders{}, "SessionView": client.PayorSession{},
	"SimulatePaymentBody": client.SimulatePaymentParams{}, "SimulatedPayment": client.SimulatedPayment{},
	"UnmatchedObject": client.UnmatchedPayment{}, "UnmatchedPaymentList": client.UnmatchedPaymentList{},
	"UpdateWebhookEndpointBody": client.UpdateWebhookEndpointParams{}, "WSToken": client.WSToken{},
	"WebhookDeliveryList": client.WebhookDeliveryList{}, "WebhookEndpointList": client.WebhookEndpointList{},
	"WebhookReplay": client.WebhookReplay{}, "MarkInputBody": client.MarkInvoiceParams{}, "MarkObject": client.Mark{},
	"CheckoutObject": client.Checkout{}, "UpdateCheckoutBody": client.UpdateCheckoutParams{},
	"Payment": client.PaymentDetails{}, "PaymentList": client.PaymentList{}, "Report": client.Report{},
	"ReportInvoice": client.ReportInvoice{}, "ReportPayment": client.ReportPayment{}, "ReportTotal": client.ReportTotal{},
	"CreateRailAccountBody": client.CreateRailAccountParams{}, "RailAccountObject": client.RailAccount{},
	"RailAccountList": client.RailAccountList{}, "DeletedRailAccount": client.DeletedRailAccount{},
	"UnmatchedCreditObject": client.UnmatchedRailCredit{}, "UnmatchedRailCreditList": client.UnmatchedRailCreditList{},
	"PayorSimulatedPayment": client.PayorSimulatedPayment{},
	"FulfilmentObject":      client.Fulfilment{}, "TipView": client.PayorTip{}, "PayorTipBody": client.PayorTipParams{},
	"CreateLocationBody": client.CreateLocationParams{}, "LocationObject": client.Location{}, "LocationList": client.LocationList{},
	"CreateQRCodeBody": client.CreateQRCodeParams{}, "QRCodeObject": client.QRCode{}, "QRCodeList": client.QRCodeList{},
	"QRSessionObject": client.QRSession{},
	"TerminalObject":  client.Terminal{}, "NewTerminal": client.NewTerminal{}, "TerminalList": client.TerminalList{},
	"CreateTerminalBody": client.CreateTerminalParams{},
}

// unmodelled are schemas the client reads without a type of its own.
var unmodelled = map[string]string{
	"ChooseMethodInputBody":  "PayorClient.ChooseMethod's argument",
	"DevnetPayment":          "PayorClient.PayFromDevnet's result",
	"PayorSimulateInputBody": "PayorClient.SimulatePayment's argument",
	"EventMessage":           "read by Stream",
}

// TestTypesMatchSchemas: each type has exactly its schema's properties,
// request bodies never leave out a required one, and every schema of the
// spec is accounted for: typed, read without a type, or used only by the
// rails' notifications (see railNotifications).
func TestTypesMatchSchemas(t *testing.T) {
	t.Parallel()
	s := loadSpec(t)
	for name := range s.Components.Schemas {
		_, typed := schemaTypes[name]
		switch {
		case s.railOnly[name] && (typed || unmodelled[name] != ""):
			t.Errorf("schema %s is used only by the rails' notifications: the client has no use for it", name)
		case !typed && unmodelled[name] == "" && !s.railOnly[name]:
			t.Errorf("schema %s is new: give it a client type", name)
		}
	}
	for name, v := range schemaTypes {
		sc, ok := s.Components.Schemas[name]
		if !ok {
			t.Errorf("schema %s is gone from the spec", name)
			continue
		}
		typ := reflect.TypeOf(v)
		fields := map[string]bool{} // name → omitempty
		jsonFields(typ, fields)
		var props []string
		for p := range sc.Properties {
			props = append(props, p)
		}
		if got, want := sortedKeys(fields), sorted(props); !slices.Equal(got, want) {
			t.Errorf("%s (%s) has fields %v, the spec %v", typ.Name(), name, got, want)
		}
		if strings.HasSuffix(name, "Body") {
			for _, r := range sc.Required {
				if fields[r] {
					t.Errorf("%s.%s is required by the spec but omitted when empty", typ.Name(), r)
				}
			}
		}
	}
}

// jsonFields records the JSON names of t's fields, embedded ones included.
func jsonFields(t reflect.Type, out map[string]bool) {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if f.Anonymous && tag == "" {
			jsonFields(f.Type, out)
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = strings.Contains(opts, "omitempty")
	}
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return sorted(out)
}

func sorted(s []string) []string { sort.Strings(s); return s }

// checkCalls checks that every request the test servers received under
// /api/ is an operation of the spec (or the WebSocket), and, after a full
// run, that every operation of the client was called.
func checkCalls(s *spec, full bool) error {
	type route struct {
		re *regexp.Regexp
		id string
	}
	param := regexp.MustCompile(`\\\{[^}]+\\\}`) // {id}, once quoted
	var routes []route
	for path, ops := range s.Paths {
		pattern := param.ReplaceAllString(regexp.QuoteMeta(path), `[^/]+`)
		for method, so := range ops {
			routes = append(routes, route{regexp.MustCompile("^" + strings.ToUpper(method) + " " + pattern + "$"), so.OperationID})
		}
	}
	called := map[string]bool{}
	var errs []string
	for k := range calls.all() {
		req := k[0] + " " + k[1]
		if !strings.HasPrefix(k[1], "/api/") || req == "GET "+client.WSPath {
			continue
		}
		i := slices.IndexFunc(routes, func(r route) bool { return r.re.MatchString(req) })
		if i < 0 {
			errs = append(errs, req+" is in no operation of the spec")
			continue
		}
		called[routes[i].id] = true
	}
	if full {
		for _, op := range client.Operations {
			if !called[op.ID] {
				errs = append(errs, op.ID+" was never called against a server")
			}
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}
