package main

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/invoice/storetest"
)

// TestMoneySimulation drives two merchants through random steps on every
// database and checks, against a model, what settle promises about money:
//
//   - every invoice's amount_paid is the sum of its confirmed payments, and
//     its status and exception are what the rules make of them;
//   - every credit lands in exactly one place: a payment of the invoice it
//     pays, the right merchant's unmatched list, or a duplicate of that
//     merchant's earlier credit;
//   - events are numbered without a gap, each merchant's feed holds its own
//     events and none of the other's, and every invoice.updated is one
//     change of status or exception;
//   - `settle reconcile` finds the devnet chain and the store in agreement.
//
// The steps: invoices of every method (sandbox, devnet USDC on an address
// and on a watch-only key, FedNow and RTP in pacs.008 and camt.054, ACH,
// push-to-card, QRIS by forwarded notification and by callback); payments
// exact, partial, over, late and to cancelled invoices; notifications
// replayed, sent several times at once, and the same transfer in another
// message type or on the other instant rail; bank ids that the other
// merchant's bank issued too; chain payments reorged away or mined again
// before they confirm; expiry; and restarts of the server at random points.
//
// A short run is part of `go test`. SETTLE_SIM_SEEDS (a seed, or a range
// such as 1-20) and SETTLE_SIM_STEPS (steps per seed) run longer ones; a
// failure names its seed and step, and the same seed replays the same steps.
func TestMoneySimulation(t *testing.T) {
	t.Parallel()
	seeds, steps := simSettings(t)
	for _, dialect := range storetest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			for _, seed := range seeds {
				// A subtest each, so that each seed's server, chain and
				// database are gone before the next seed starts.
				t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
					start := time.Now()
					s := newSim(t, dialect, seed)
					s.run(steps)
					t.Logf("seed %d: %d steps in %.1fs: %s", seed, steps, time.Since(start).Seconds(), s.tally())
				})
			}
		})
	}
}

// simSettings reads the seeds and steps of a run.
func simSettings(t *testing.T) ([]uint64, int) {
	t.Helper()
	steps := 300
	if v := os.Getenv("SETTLE_SIM_STEPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SETTLE_SIM_STEPS=%q: want a positive number", v)
		}
		steps = n
	}
	spec := os.Getenv("SETTLE_SIM_SEEDS")
	if spec == "" {
		spec = "1"
	}
	first, last, isRange := strings.Cut(spec, "-")
	lo, err1 := strconv.ParseUint(first, 10, 64)
	hi, err2 := lo, error(nil)
	if isRange {
		hi, err2 = strconv.ParseUint(last, 10, 64)
	}
	if err1 != nil || err2 != nil || hi < lo {
		t.Fatalf("SETTLE_SIM_SEEDS=%q: want a seed or a range such as 1-20", spec)
	}
	var seeds []uint64
	for s := lo; s <= hi; s++ {
		seeds = append(seeds, s)
	}
	return seeds, steps
}

// sim is one run: a world, the model of it, and the steps taken.
type sim struct {
	t         *testing.T
	w         *world
	rng       *rand.Rand
	seed      uint64
	step      int
	dialect   string
	merchants []*simMerchant
	invoices  []*simInvoice
	sent      []sentNotification // notifications sent, for replays
	lastPay   *pendingTransfer   // the newest chain transfer while it is pending in the head block
	counts    map[string]int     // steps taken, by kind
	spent     map[string]time.Duration
	begin     time.Time
}

// sentNotification is a notification sent once and what it became.
type sentNotification struct {
	m         *simMerchant
	rail      string
	n         notification
	outcome   outcome
	uetr      string // FedNow and RTP
	amount    string
	reference string
	callback  string // a QRIS callback's identity
}

// outcome is where a credit landed: a payment of an invoice, or an
// unmatched credit.
type outcome struct {
	status    string // matched, unmatched
	invoice   *simInvoice
	paymentID string
	unmatched string
}

// pendingTransfer is the newest chain transfer while its block is the head.
type pendingTransfer struct {
	tx, parent common.Hash
	nonce      uint64
	pay        *simPayment // nil for a transfer no invoice expects
	unmatched  *simCredit
}

func newSim(t *testing.T, dialect string, seed uint64) *sim {
	t.Helper()
	db := storetest.Open(t, dialect)
	s := &sim{t: t, w: newWorld(t, db), rng: rand.New(rand.NewPCG(seed, 0x5e771e)), seed: seed, dialect: dialect,
		counts: map[string]int{}, spent: map[string]time.Duration{}, begin: time.Now().UTC()}
	svc := invoice.NewService(db.DB, nil, nil, nil)
	for i := range 2 {
		m, key, err := svc.CreateMerchant(context.Background(), fmt.Sprintf("Sim Shop %c", 'A'+i))
		if err != nil {
			t.Fatal(err)
		}
		s.merchants = append(s.merchants, &simMerchant{n: i, id: m.ID, key: key, xpub: i == 1,
			rails: map[string]simRailAccount{}, callbacks: map[string]outcome{}})
	}
	s.w.start()
	for _, m := range s.merchants {
		s.setUp(m)
	}
	return s
}

// fail stops the run, naming the seed and step that replay it.
func (s *sim) fail(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("seed %d, step %d (%s; replay with SETTLE_SIM_SEEDS=%d SETTLE_SIM_STEPS=%d go test ./cmd/settle -run 'TestMoneySimulation/%s/seed=%d'): %s",
		s.seed, s.step, s.dialect, s.seed, s.step, s.dialect, s.seed, fmt.Sprintf(format, args...))
}

// setUp gives m a devnet receiving account and an account on every rail.
func (s *sim) setUp(m *simMerchant) {
	body := map[string]any{"network": "devnet", "address": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}
	if m.xpub {
		body = map[string]any{"network": "devnet", "xpub": simTPub(s.t)}
	} else {
		m.address = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	}
	if a := s.w.api(m.key, "POST", "/api/v1/receiving-accounts", body); a.status != http.StatusCreated {
		s.fail("receiving account: %d %s", a.status, a.raw)
	}
	for _, rail := range []string{"fednow", "rtp", "ach", "push_to_card", "qris"} {
		body := map[string]any{"rail": rail, "bank_name": "First Example Bank", "account_name": "Sim Shop",
			"account_number": "000123456789", "routing_number": "021000021"}
		switch rail {
		case "push_to_card":
			body = map[string]any{"rail": rail, "processor_id": "acq_sim"}
		case "qris":
			body = map[string]any{"rail": rail, "qris_payload": simQRIS}
		}
		a := s.w.api(m.key, "POST", "/api/v1/rail-accounts", body)
		if a.status != http.StatusCreated {
			s.fail("rail account %s: %d %s", rail, a.status, a.raw)
		}
		m.rails[rail] = simRailAccount{id: a.str("id"), secret: a.str("callback_secret")}
	}
}

// simQRIS is a real static QRIS payload (chains/fiat/testdata/emvco).
const simQRIS = "00020101021126570011ID.DANA.WWW011893600915303379682702090337968270303UMI51440014ID.CO.QRIS.WWW0215ID10265640751030303UMI5204737253033605802ID5909BoonTrack6012Kab. Bandung61054028663048DC1"

// run takes steps steps, checking the model after each, then everything.
func (s *sim) run(steps int) {
	for s.step = 1; s.step <= steps; s.step++ {
		s.takeStep()
		if s.step%50 == 0 {
			s.checkAll(false)
		}
	}
	s.step = steps
	s.checkAll(true)
}

// takeStep picks a step by weight; one whose conditions do not hold
// creates an invoice instead.
func (s *sim) takeStep() {
	type kind struct {
		name   string
		weight int
		do     func() bool
	}
	kinds := []kind{
		{"create invoice", 12, s.createInvoice},
		{"chain payment", 12, s.chainPayment},
		{"chain unmatched", 2, s.chainUnmatched},
		{"mine", 5, s.mineBlock},
		{"reorg away", 2, s.reorgAway},
		{"reorg mined again", 2, s.reorgAgain},
		{"rail credit", 16, s.railCredit},
		{"rail replay", 5, s.railReplay},
		{"same transfer", 3, s.sameTransfer},
		{"concurrent copies", 2, s.concurrentCopies},
		{"sandbox payment", 5, s.sandboxPayment},
		{"sandbox move", 3, s.sandboxMove},
		{"expire", 4, s.expireInvoice},
		{"cancel", 3, s.cancelInvoice},
		{"restart", 1, s.restart},
		{"crash", 1, s.crash},
		{"crash during a credit", 1, s.crashDuringCredit},
	}
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	r := s.rng.IntN(total)
	began := time.Now()
	for _, k := range kinds {
		if r -= k.weight; r < 0 {
			defer func(name string) { s.spent[name] += time.Since(began) }(k.name)
			if len(s.invoices) < 4 || !k.do() {
				s.createInvoice()
				s.counts["create invoice"]++
				return
			}
			s.counts[k.name]++
			return
		}
	}
}

func (s *sim) tally() string {
	var parts []string
	for k, n := range s.counts {
		parts = append(parts, fmt.Sprintf("%s %d (%s)", k, n, s.spent[k].Round(time.Millisecond)))
	}
	slices.Sort(parts)
	return fmt.Sprintf("%d invoices, %d server processes; %s", len(s.invoices), s.w.starts, strings.Join(parts, ", "))
}

// pick returns a random element of the items for which keep holds.
func pick[T any](s *sim, items []T, keep func(T) bool) (T, bool) {
	var ok []T
	for _, it := range items {
		if keep(it) {
			ok = append(ok, it)
		}
	}
	if len(ok) == 0 {
		var zero T
		return zero, false
	}
	return ok[s.rng.IntN(len(ok))], true
}

func (s *sim) merchant() *simMerchant { return s.merchants[s.rng.IntN(len(s.merchants))] }

// --- invoices ---

var simMethods = []string{"sandbox", "usdc_devnet", "fednow", "rtp", "ach_same_day", "push_to_card", "qris"}

func (s *sim) createInvoice() bool {
	m := s.merchant()
	method := simMethods[s.rng.IntN(len(simMethods))]
	inv := &simInvoice{n: len(s.invoices), m: m, method: method, currency: "USD", decimals: 2, status: stOpen, exception: exNone}
	// Whole dollars and 10 to 99 cents: an amount ending in .03 is nobody's.
	inv.amount = int64(1+s.rng.IntN(400))*100 + int64(10+s.rng.IntN(90))
	if method == "qris" {
		inv.currency, inv.decimals = "IDR", 0
		inv.amount = int64(10_000 + 500*s.rng.IntN(180))
		if len(m.planned) > 0 {
			inv.amount, m.planned = m.planned[0], m.planned[1:]
		}
	}
	inv.asked = inv.amount
	a := s.w.api(m.key, "POST", "/api/v1/invoices", map[string]any{
		"amount": inv.format(inv.amount), "currency": inv.currency, "payment_methods": []string{method},
		"expires_in": invoice.MaxExpiresIn,
	})
	if a.status != http.StatusCreated {
		s.fail("create %s invoice: %d %s", method, a.status, a.raw)
	}
	inv.id = a.str("id")
	methods, _ := a.json["payment_methods"].([]any)
	for _, x := range methods {
		inv.sandbox = inv.sandbox || x == "sandbox"
	}
	ins, _ := a.json["payment_instructions"].([]any)
	for _, x := range ins {
		in := x.(map[string]any)
		if in["method"] != method {
			continue
		}
		switch method {
		case "usdc_devnet":
			inv.address = in["address"].(string)
			inv.units, _ = new(big.Int).SetString(in["amount_units"].(string), 10)
		case "qris":
			inv.asked, _ = strconv.ParseInt(in["total_amount"].(string), 10, 64)
			inv.ref = in["reference"].(string)
		default:
			inv.ref, _ = in["reference"].(string)
		}
	}
	if method != "sandbox" && inv.units == nil && inv.ref == "" {
		s.fail("invoice %s has no %s instruction: %s", inv.id, method, a.raw)
	}
	s.invoices = append(s.invoices, inv)
	return true
}

// expect waits until settle shows inv as the model has it.
func (s *sim) expect(inv *simInvoice) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		a := s.w.api(inv.m.key, "GET", "/api/v1/invoices/"+inv.id, nil)
		want := inv.format(inv.paid())
		if a.str("status") == inv.status && a.str("exception") == inv.exception && a.str("amount_paid") == want {
			return
		}
		if time.Now().After(deadline) {
			s.fail("invoice %d (%s, %s): settle shows %s/%s paid %s, the model %s/%s paid %s\npayments: %s\nmodel: %s",
				inv.n, inv.id, inv.method, a.str("status"), a.str("exception"), a.str("amount_paid"), inv.status, inv.exception, want,
				s.w.api(inv.m.key, "GET", "/api/v1/invoices/"+inv.id+"/payments", nil).raw, inv.describe())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (inv *simInvoice) describe() string {
	var parts []string
	for _, p := range inv.payments {
		parts = append(parts, fmt.Sprintf("%s %s/%d %s early=%v", p.key, p.units, p.decimals, p.status, p.early))
	}
	return fmt.Sprintf("amount %d asked %d expired %v [%s]", inv.amount, inv.asked, inv.expired, strings.Join(parts, "; "))
}

func (s *sim) expireInvoice() bool {
	// Half the time one with money on its way: expiry before it confirms is
	// where "open before" and "pay before" part.
	inv, ok := pick(s, s.invoices, func(inv *simInvoice) bool { return !inv.expired && inv.hasPending() })
	if !ok || s.rng.IntN(2) == 0 {
		if inv, ok = pick(s, s.invoices, func(inv *simInvoice) bool { return !inv.expired }); !ok {
			return false
		}
	}
	// Time passes for this invoice: its expiry is now.
	now := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := s.w.db.NewUpdate().Table("invoices").Set("expires_at = ?", now).Where("id = ?", inv.id).Exec(context.Background()); err != nil {
		s.fail("move expiry: %v", err)
	}
	inv.expire()
	if inv.status == stProcessing || inv.status == stOpen {
		time.Sleep(60 * time.Millisecond) // three expirer sweeps, which must leave it be
	}
	s.expect(inv)
	return true
}

func (s *sim) cancelInvoice() bool {
	inv, ok := pick(s, s.invoices, func(inv *simInvoice) bool { return inv.status != stCancelled })
	if !ok {
		return false
	}
	a := s.w.api(inv.m.key, "POST", "/api/v1/invoices/"+inv.id+"/cancel", map[string]any{})
	switch {
	case inv.cancellable() && a.status == http.StatusOK:
		inv.status = stCancelled
	case !inv.cancellable() && a.status == http.StatusConflict && a.str("code") == "invoice_not_cancellable":
	default:
		s.fail("cancel invoice %d (%s, cancellable %v): %d %s", inv.n, inv.status, inv.cancellable(), a.status, a.raw)
	}
	s.expect(inv)
	return true
}

func (s *sim) restart() bool {
	s.w.restart(false)
	return true
}

// crash kills the server and starts a fresh process: what it stored is all
// there is.
func (s *sim) crash() bool {
	s.w.restart(true)
	return true
}

// --- the sandbox ---

func (s *sim) sandboxPayment() bool {
	// A third of the time to one with money already on its way.
	inv, ok := pick(s, s.invoices, func(inv *simInvoice) bool { return inv.sandbox && inv.hasPending() })
	if !ok || s.rng.IntN(3) > 0 {
		if inv, ok = pick(s, s.invoices, func(inv *simInvoice) bool { return inv.sandbox }); !ok {
			return false
		}
	}
	amount := s.payAmount(inv)
	status := pConfirmed
	if s.rng.IntN(2) == 0 {
		status = pPending
	}
	a := s.w.api(inv.m.key, "POST", "/api/v1/test/invoices/"+inv.id+"/simulate-payment",
		map[string]any{"amount": inv.format(amount), "status": status})
	if a.status != http.StatusOK {
		s.fail("simulate payment: %d %s", a.status, a.raw)
	}
	pay, _ := a.json["payment"].(map[string]any)
	p := &simPayment{inv: inv, key: pay["id"].(string), sandbox: pay["tx_id"].(string), units: big.NewInt(amount),
		decimals: inv.decimals, status: status, early: !inv.expired}
	inv.payments = append(inv.payments, p)
	inv.settle()
	s.expect(inv)
	return true
}

func (s *sim) sandboxMove() bool {
	var moves []*simPayment
	for _, inv := range s.invoices {
		for _, p := range inv.payments {
			if p.sandbox != "" && (p.status == pPending || p.status == pConfirmed) {
				moves = append(moves, p)
			}
		}
	}
	if len(moves) == 0 {
		return false
	}
	p := moves[s.rng.IntN(len(moves))]
	to := pReversed
	if p.status == pPending && s.rng.IntN(3) > 0 {
		to = pConfirmed
	}
	a := s.w.api(p.inv.m.key, "POST", "/api/v1/test/invoices/"+p.inv.id+"/simulate-payment",
		map[string]any{"amount": p.inv.format(p.units.Int64()), "status": to, "tx_id": p.sandbox})
	if a.status != http.StatusOK {
		s.fail("move sandbox payment to %s: %d %s", to, a.status, a.raw)
	}
	p.status = to
	p.inv.settle()
	s.expect(p.inv)
	return true
}

// payAmount is what a payor sends toward inv, in its minor units: what is
// due, half of it, or more.
func (s *sim) payAmount(inv *simInvoice) int64 {
	due := inv.due()
	switch s.rng.IntN(4) {
	case 0:
		return max(due/2, 1)
	case 1:
		return due + int64(1+s.rng.IntN(5))*pow10(inv.decimals).Int64()
	default:
		return due
	}
}
