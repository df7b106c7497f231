package invoice

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// This file is the only one of the package that speaks SQL.
//
// Inserts whose generated values are not needed say Returning("NULL"): bun
// otherwise asks Postgres to return defaulted columns (the event sequence,
// nullable times), which turns a plain statement into a query that pgx
// prepares afresh for every distinct text: one more round trip per insert.

type txKey struct{}

// WithTx returns a context whose service calls run inside tx, so that a
// caller (the API's idempotency layer) can commit a response record in the
// same transaction as the work it records.
func WithTx(ctx context.Context, tx bun.Tx) context.Context {
	return context.WithValue(ctx, txKey{}, tx)
}

// IDB returns the transaction ctx carries (see WithTx), else the database:
// the handle through which other packages' writes join the caller's
// transaction.
func (s *Service) IDB(ctx context.Context) bun.IDB { return s.idb(ctx) }

// idb is the transaction in ctx, else the database.
func (s *Service) idb(ctx context.Context) bun.IDB {
	if tx, ok := ctx.Value(txKey{}).(bun.Tx); ok {
		return tx
	}
	return s.db
}

// WithinTx runs fn in the caller's transaction, or in a new one, and rings
// the events hook after a commit: for other packages' writes with events.
func (s *Service) WithinTx(ctx context.Context, fn func(ctx context.Context, tx bun.IDB) error) error {
	return s.inTx(ctx, fn)
}

// inTx runs fn in the caller's transaction, or in a new one, which fn's
// context carries: service calls fn makes join it.
func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context, tx bun.IDB) error) error {
	if tx, ok := ctx.Value(txKey{}).(bun.Tx); ok {
		return fn(ctx, tx)
	}
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error { return fn(WithTx(ctx, tx), tx) })
	if err == nil {
		s.EventsWritten()
	}
	return err
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// --- merchants and keys ---

// CreateMerchant stores a merchant with live mode gated off and returns it
// with a fresh test key of scope merchant (the only time it is shown).
func (s *Service) CreateMerchant(ctx context.Context, name string) (Merchant, string, error) {
	if name == "" || len(name) > 200 {
		return Merchant{}, "", &ValidationError{Fields: []*FieldError{{Field: "name", Code: "invalid_name", Rule: "1 to 200 characters"}}}
	}
	now := s.Now()
	m := Merchant{ID: NewID("mer_", now), Name: name, CreatedAt: now}
	secret, key := newAPIKey(m.ID, ModeTest, ScopeMerchant, now)
	err := s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		if _, err := tx.NewInsert().Model(&m).Exec(ctx); err != nil {
			return err
		}
		_, err := tx.NewInsert().Model(&key).Exec(ctx)
		return err
	})
	if err != nil {
		return Merchant{}, "", fmt.Errorf("create merchant: %w", err)
	}
	return m, secret, nil
}

// Merchant returns the merchant with id.
func (s *Service) Merchant(ctx context.Context, id string) (Merchant, error) {
	var m Merchant
	err := s.idb(ctx).NewSelect().Model(&m).Where("id = ?", id).Scan(ctx)
	return m, notFound(err)
}

// EnableLive lifts the merchant's live gate.
func (s *Service) EnableLive(ctx context.Context, merchantID string) error {
	res, err := s.idb(ctx).NewUpdate().Model((*Merchant)(nil)).Set("live_enabled = ?", true).Where("id = ?", merchantID).Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	s.keys.flush()
	return s.announceKeys(ctx)
}

// CreateKey stores a new key for the merchant and returns its secret, shown
// only this once.
func (s *Service) CreateKey(ctx context.Context, merchantID string, mode Mode, scope Scope) (string, APIKey, error) {
	if !mode.Valid() || !scope.Valid() {
		return "", APIKey{}, &ValidationError{Fields: []*FieldError{{Field: "mode", Code: "invalid_key", Rule: "mode is test or live, scope merchant or read"}}}
	}
	if _, err := s.Merchant(ctx, merchantID); err != nil {
		return "", APIKey{}, err
	}
	return s.insertKey(ctx, merchantID, mode, scope, "")
}

// CreateBoundKey stores a key of a bound scope (Scope.Bound) that acts for
// the object boundTo only, in ctx's transaction if there is one, and
// returns its secret, shown only this once. The caller has checked that
// the object is the merchant's.
func (s *Service) CreateBoundKey(ctx context.Context, merchantID string, mode Mode, scope Scope, boundTo string) (string, APIKey, error) {
	if !mode.Valid() || !scope.Bound() || boundTo == "" {
		return "", APIKey{}, fmt.Errorf("create bound key: scope %q for %q", scope, boundTo)
	}
	return s.insertKey(ctx, merchantID, mode, scope, boundTo)
}

func (s *Service) insertKey(ctx context.Context, merchantID string, mode Mode, scope Scope, boundTo string) (string, APIKey, error) {
	secret, key := newAPIKey(merchantID, mode, scope, s.Now())
	key.BoundTo = boundTo
	if _, err := s.idb(ctx).NewInsert().Model(&key).Exec(ctx); err != nil {
		return "", APIKey{}, fmt.Errorf("create key: %w", err)
	}
	return secret, key, nil
}

// RevokeKey revokes the key whose prefix (as shown by `settle keys`) is
// given. Revoking twice is not an error.
func (s *Service) RevokeKey(ctx context.Context, prefix string) error {
	res, err := s.idb(ctx).NewUpdate().Model((*APIKey)(nil)).
		Set("revoked_at = COALESCE(revoked_at, ?)", s.Now()).Where("prefix = ?", prefix).Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	s.keys.flush()
	s.keysRevoked()
	return s.announceKeys(ctx)
}

// announceKeys tells other instances' key watchers (through KeysChannel,
// on Postgres) that a key was revoked or a merchant went live; in a
// transaction, when it commits.
func (s *Service) announceKeys(ctx context.Context) error {
	if s.db.Dialect().Name() != dialect.PG {
		return nil
	}
	_, err := s.idb(ctx).ExecContext(ctx, "SELECT pg_notify(?, '')", KeysChannel)
	return err
}

// revokedKeysChunk bounds the prefixes one RevokedKeys query names.
const revokedKeysChunk = 500

// RevokedKeys returns those of prefixes whose key is revoked (or no longer
// exists). It always reads the store.
func (s *Service) RevokedKeys(ctx context.Context, prefixes []string) ([]string, error) {
	var out []string
	for chunk := range slices.Chunk(prefixes, revokedKeysChunk) {
		var live []string
		err := s.db.NewSelect().Model((*APIKey)(nil)).Column("prefix").
			Where("prefix IN (?) AND revoked_at IS NULL", bun.In(chunk)).Scan(ctx, &live)
		if err != nil {
			return nil, fmt.Errorf("revoked keys: %w", err)
		}
		for _, p := range chunk {
			if !slices.Contains(live, p) {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// Authenticate resolves a secret key to the principal it acts for. While
// RunKeyWatcher runs, resolved keys are cached (see keyCache).
func (s *Service) Authenticate(ctx context.Context, secret string) (Principal, error) {
	if !looksLikeKey(secret) {
		return Principal{}, ErrUnauthenticated
	}
	hash := hashKey(secret)
	now := time.Now()
	if p, ok := s.keys.get(hash, now); ok {
		return p, nil
	}
	gen := s.keys.generation()
	var row struct {
		APIKey
		LiveEnabled bool `bun:"live_enabled"`
	}
	err := s.idb(ctx).NewSelect().
		ColumnExpr("k.prefix, k.merchant_id, k.mode, k.scope, k.bound_to, k.revoked_at, m.live_enabled").
		TableExpr("api_keys AS k").Join("JOIN merchants AS m ON m.id = k.merchant_id").
		Where("k.hash = ?", hash).Scan(ctx, &row)
	if errors.Is(err, sql.ErrNoRows) || err == nil && row.RevokedAt != nil {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	p := Principal{MerchantID: row.MerchantID, Mode: row.Mode, Scope: row.Scope, BoundTo: row.BoundTo, KeyPrefix: row.Prefix, LiveEnabled: row.LiveEnabled}
	s.keys.put(hash, p, gen, now)
	return p, nil
}

func (s *Service) keysRevision(ctx context.Context) (keysRevision, error) {
	var rev keysRevision
	err := s.db.NewSelect().
		ColumnExpr("(SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NOT NULL) AS revoked").
		ColumnExpr("(SELECT COUNT(*) FROM merchants WHERE live_enabled) AS live").
		Scan(ctx, &rev)
	return rev, err
}

// Setting returns the stored value of name, storing generate() first if
// there is none. Concurrent first calls agree on one value.
func Setting(ctx context.Context, db bun.IDB, name string, generate func() string) (string, error) {
	row := struct {
		bun.BaseModel `bun:"table:settings"`
		Name          string `bun:"name,pk"`
		Value         string `bun:"value"`
	}{Name: name, Value: generate()}
	if _, err := db.NewInsert().Model(&row).On("CONFLICT (name) DO NOTHING").Exec(ctx); err != nil {
		return "", fmt.Errorf("store setting %s: %w", name, err)
	}
	err := db.NewSelect().Model(&row).Where("name = ?", name).Scan(ctx)
	return row.Value, err
}

// --- invoices ---

// Create validates p and stores the invoice with its invoice.created event.
func (s *Service) Create(ctx context.Context, p CreateParams) (Invoice, error) {
	inv, _, err := s.CreateObject(ctx, p)
	return inv, err
}

// CreateObject is Create that also returns the new invoice's public form,
// the object of its invoice.created event: the API answers with it, so it
// is built (and the checkout handles in it signed) once.
func (s *Service) CreateObject(ctx context.Context, p CreateParams) (Invoice, InvoiceObject, error) {
	inv, err := p.build(s.Now())
	if err != nil {
		return Invoice{}, InvoiceObject{}, err
	}
	// prepare runs p.Prepare, which may narrow the methods or add
	// instructions, then builds the object and the event from the invoice
	// as it is.
	var (
		events []Event
		obj    InvoiceObject
	)
	prepare := func(ctx context.Context, db bun.IDB) error {
		if p.QRSessionID != "" {
			if err := s.claimQRSession(ctx, db, &inv, p.QRSessionID, p.ExpiresIn == 0 && p.ExpiresAt == nil); err != nil {
				return err
			}
		}
		if p.Prepare != nil {
			if err := p.Prepare(ctx, db, &inv); err != nil {
				return err
			}
		}
		if err := payable(inv); err != nil {
			return err
		}
		obj = inv.Object(s.checkout)
		ev, err := s.newEvent(&inv, EventInvoiceCreated, objectData{obj})
		events = []Event{ev}
		return err
	}
	writes := p.Prepare != nil && !p.PrepareReadOnly || p.QRSessionID != ""
	if !writes {
		if err := prepare(ctx, s.idb(ctx)); err != nil {
			if p.Prepare == nil {
				return Invoice{}, InvoiceObject{}, err
			}
			return Invoice{}, InvoiceObject{}, fmt.Errorf("create invoice: %w", err)
		}
	}
	if _, inTx := ctx.Value(txKey{}).(bun.Tx); !inTx && !writes && s.db.Dialect().Name() == dialect.PG {
		// One statement is atomic by itself: the invoice and its event in
		// one round trip instead of four (BEGIN, two INSERTs, COMMIT).
		_, err = s.db.NewInsert().With("invoice", s.db.NewInsert().Model(&inv)).
			Model(&events).Returning("NULL").Exec(ctx)
		if err == nil {
			s.EventsWritten()
		}
	} else {
		err = s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
			if writes {
				if err := prepare(ctx, tx); err != nil {
					return err
				}
			}
			if _, err := tx.NewInsert().Model(&inv).Returning("NULL").Exec(ctx); err != nil {
				return err
			}
			return InsertEvents(ctx, tx, events...)
		})
	}
	if err != nil {
		return Invoice{}, InvoiceObject{}, fmt.Errorf("create invoice: %w", err)
	}
	return inv, obj, nil
}

// payable refuses a live invoice that no payor could pay: none of its
// methods has instructions (an address, a bank account, a QR payload). A
// test invoice always can be paid: its sandbox method is simulated from the
// hosted page or the API.
func payable(inv Invoice) error {
	if inv.Mode != ModeLive || len(inv.Instructions) > 0 {
		return nil
	}
	return &ValidationError{Fields: []*FieldError{{
		Field: "payment_methods", Code: "no_payable_method",
		Rule: fmt.Sprintf("none of %v can be paid in live mode: a payor would have nothing to pay with; add a receiving account (POST /api/v1/receiving-accounts) or a rail account (POST /api/v1/rail-accounts) for one of them", inv.PaymentMethods),
	}}}
}

// Get returns the merchant's invoice id in mode.
func (s *Service) Get(ctx context.Context, merchantID string, mode Mode, id string) (Invoice, error) {
	var inv Invoice
	err := s.idb(ctx).NewSelect().Model(&inv).
		Where("id = ? AND merchant_id = ? AND mode = ?", id, merchantID, mode).Scan(ctx)
	return inv, notFound(err)
}

// GetMany returns the merchant's invoices in mode among ids, by id; ids
// that name none are left out.
func (s *Service) GetMany(ctx context.Context, merchantID string, mode Mode, ids []string) (map[string]Invoice, error) {
	out := make(map[string]Invoice, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var list []Invoice
	err := s.idb(ctx).NewSelect().Model(&list).
		Where("id IN (?) AND merchant_id = ? AND mode = ?", bun.In(ids), merchantID, mode).Scan(ctx)
	for _, inv := range list {
		out[inv.ID] = inv
	}
	return out, err
}

// BySessionToken returns the invoice whose checkout session is token.
func (s *Service) BySessionToken(ctx context.Context, token string) (Invoice, error) {
	var inv Invoice
	err := s.idb(ctx).NewSelect().Model(&inv).Where("session_token = ?", token).Scan(ctx)
	return inv, notFound(err)
}

// ListParams filters and pages a merchant's invoices, newest first.
type ListParams struct {
	MerchantID      string
	Mode            Mode
	Status          Status
	MerchantOrderID string
	CreatedGTE      *time.Time
	CreatedLTE      *time.Time
	After           string // the last id of the previous page
	Limit           int    // 1 to MaxListLimit; 0 means DefaultListLimit
}

// Page sizes of [Service.List].
const (
	DefaultListLimit = 20
	MaxListLimit     = 100
)

// List returns one page of invoices and whether more follow.
func (s *Service) List(ctx context.Context, p ListParams) ([]Invoice, bool, error) {
	var out []Invoice
	q := s.idb(ctx).NewSelect().Model(&out).Where("merchant_id = ? AND mode = ?", p.MerchantID, p.Mode)
	if p.Status != "" {
		q = q.Where("status = ?", p.Status)
	}
	if p.MerchantOrderID != "" {
		q = q.Where("merchant_order_id = ?", p.MerchantOrderID)
	}
	if p.CreatedGTE != nil {
		q = q.Where("created_at >= ?", p.CreatedGTE.UTC())
	}
	if p.CreatedLTE != nil {
		q = q.Where("created_at <= ?", p.CreatedLTE.UTC())
	}
	more, err := Page(ctx, q, &out, p.After, p.Limit)
	if err != nil {
		return nil, false, fmt.Errorf("list invoices: %w", err)
	}
	return out, more, nil
}

// Payments returns the payments recorded for an invoice, oldest first.
func (s *Service) Payments(ctx context.Context, invoiceID string) ([]Payment, error) {
	var out []Payment
	err := s.idb(ctx).NewSelect().Model(&out).Where("invoice_id = ?", invoiceID).OrderExpr("created_at, id").Scan(ctx)
	return out, err
}

// lock reads an invoice for update: a row lock on Postgres; on SQLite the
// write transaction (taken immediately) already excludes other writers.
func lock(ctx context.Context, tx bun.IDB, id string) (Invoice, error) {
	var inv Invoice
	q := tx.NewSelect().Model(&inv).Where("id = ?", id)
	if tx.Dialect().Name() == dialect.PG {
		q = q.For("UPDATE")
	}
	err := q.Scan(ctx)
	return inv, notFound(err)
}

// transition moves one invoice by in, under lock, and writes its events. It
// reports whether the invoice changed.
func (s *Service) transition(ctx context.Context, merchantID string, mode Mode, id string, in Input) (Invoice, bool, error) {
	var out Invoice
	var changed bool
	err := s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		inv, err := lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if merchantID != "" && (inv.MerchantID != merchantID || inv.Mode != mode) {
			return ErrNotFound
		}
		var payments []Payment
		if err := tx.NewSelect().Model(&payments).Where("invoice_id = ?", id).Scan(ctx); err != nil {
			return err
		}
		in.Now = s.Now()
		next, changes, err := Next(inv, payments, in)
		if err != nil {
			return err
		}
		out, changed = next, len(changes) > 0
		return s.save(ctx, tx, &next, changes)
	})
	return out, changed, err
}

// Cancel cancels an open invoice that has nothing paid or pending.
func (s *Service) Cancel(ctx context.Context, merchantID string, mode Mode, id string) (Invoice, error) {
	inv, _, err := s.transition(ctx, merchantID, mode, id, Input{Kind: InputCancel})
	return inv, err
}

// Apply records a payment observation and moves its invoice accordingly, in
// one transaction with the events. It is idempotent: an observation whose
// payment already has that status changes nothing. A confirmed payment is not
// moved back to pending by a late, stale observation.
func (s *Service) Apply(ctx context.Context, obs Observation) (Invoice, Payment, error) {
	if !obs.Status.Valid() || obs.Network == "" || obs.TxID == "" || obs.Amount.Sign() < 0 ||
		obs.Decimals < 0 || obs.Decimals > MaxAssetDecimals {
		return Invoice{}, Payment{}, fmt.Errorf("apply: invalid observation %+v", obs)
	}
	var inv Invoice
	var pay Payment
	err := s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		var err error
		if inv, err = lock(ctx, tx, obs.InvoiceID); err != nil {
			return err
		}
		var payments []Payment
		if err := tx.NewSelect().Model(&payments).Where("invoice_id = ?", inv.ID).OrderExpr("id").Scan(ctx); err != nil {
			return err
		}
		now := s.Now()
		i := -1
		for j := range payments {
			if payments[j].Network == obs.Network && payments[j].TxID == obs.TxID && payments[j].Index == obs.Index && payments[j].CreditID == obs.CreditID {
				i = j
			}
		}
		switch {
		case i < 0:
			pay = Payment{
				ID: NewID("pay_", now), InvoiceID: inv.ID, MerchantID: inv.MerchantID, Mode: inv.Mode,
				Method: obs.Method, Network: obs.Network, TxID: obs.TxID, Index: obs.Index, CreditID: obs.CreditID,
				Asset: obs.Asset, Decimals: obs.Decimals, Amount: obs.Amount, Status: obs.Status,
				From: obs.From, To: obs.To, Block: obs.Block, BlockHash: obs.BlockHash,
				ObservedAt: obs.ObservedAt.UTC().Truncate(time.Microsecond),
				CreatedAt:  now, UpdatedAt: now,
			}
			// The key is unique across invoices. DO NOTHING (rather than
			// failing) tells a conflict apart from any other error, and
			// waits for a concurrent insert of the same key to commit.
			res, err := tx.NewInsert().Model(&pay).On("CONFLICT (network, tx_id, log_index, credit_id) DO NOTHING").Exec(ctx)
			if err != nil {
				return fmt.Errorf("insert payment: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return fmt.Errorf("%w: payment %s/%s/%d is recorded for another invoice", ErrConflict, obs.Network, obs.TxID, obs.Index)
			}
			payments = append(payments, pay)
		case payments[i].Amount.Cmp(obs.Amount) != 0 || payments[i].Asset != obs.Asset || payments[i].Decimals != obs.Decimals:
			return fmt.Errorf("%w: payment %s was observed as %s %s, now as %s %s", ErrConflict, payments[i].ID,
				payments[i].Amount.Format(payments[i].Decimals), payments[i].Asset, obs.Amount.Format(obs.Decimals), obs.Asset)
		case payments[i].Status == obs.Status ||
			payments[i].Status == PaymentConfirmed && obs.Status == PaymentPending:
			pay = payments[i]
			return nil // already applied, or stale
		default:
			payments[i].Status = obs.Status
			payments[i].UpdatedAt = now
			if obs.Status != PaymentReversed && obs.BlockHash != "" {
				// Mined again in another block after a reorg.
				payments[i].Block, payments[i].BlockHash = obs.Block, obs.BlockHash
			}
			// A return's reason stays with the reversal it explains.
			payments[i].ReturnCode, payments[i].ReturnReason = "", ""
			if obs.Status == PaymentReversed {
				payments[i].ReturnCode, payments[i].ReturnReason = obs.ReturnCode, obs.ReturnReason
			}
			pay = payments[i]
			if _, err := tx.NewUpdate().Model(&pay).Column("status", "block_number", "block_hash", "return_code", "return_reason", "updated_at").WherePK().Exec(ctx); err != nil {
				return err
			}
		}
		next, changes, err := Next(inv, payments, Input{Kind: InputPayment, Payment: &pay, Now: now})
		if err != nil {
			return err
		}
		inv = next
		return s.save(ctx, tx, &inv, changes)
	})
	if err != nil {
		return Invoice{}, Payment{}, fmt.Errorf("apply %s/%s: %w", obs.Network, obs.TxID, err)
	}
	return inv, pay, nil
}

// save writes a moved invoice and its events.
func (s *Service) save(ctx context.Context, tx bun.IDB, inv *Invoice, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	if _, err := tx.NewUpdate().Model(inv).
		Column("status", "exception", "amount_paid", "paid_at", "updated_at", "failed_payments").WherePK().Exec(ctx); err != nil {
		return err
	}
	return s.writeEvents(ctx, tx, inv, changes)
}

// writeEvents inserts one event per change, in the caller's transaction.
func (s *Service) writeEvents(ctx context.Context, tx bun.IDB, inv *Invoice, changes []Change) error {
	events, err := s.newEvents(inv, changes)
	if err != nil {
		return err
	}
	return InsertEvents(ctx, tx, events...)
}

// InsertEvents writes events to the outbox in the caller's transaction,
// for changes made outside this package (a webhook endpoint disabled).
// Their sequence is assigned later, in commit order, by the events package.
func InsertEvents(ctx context.Context, db bun.IDB, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	_, err := db.NewInsert().Model(&events).Returning("NULL").Exec(ctx)
	return err
}

// newEvents returns one event per change, each carrying the public form of
// what changed as it now stands.
func (s *Service) newEvents(inv *Invoice, changes []Change) ([]Event, error) {
	events := make([]Event, 0, len(changes))
	for _, c := range changes {
		var data any
		switch c.Type {
		case EventInvoicePaymentUpdated:
			data = struct {
				Object PaymentObject `json:"object"`
			}{c.Payment.Object()}
		case EventInvoiceUpdated:
			data = struct {
				Object         InvoiceObject `json:"object"`
				PreviousStatus Status        `json:"previous_status"`
			}{inv.Object(s.checkout), c.PreviousStatus}
		default:
			data = objectData{inv.Object(s.checkout)}
		}
		ev, err := s.newEvent(inv, c.Type, data)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	return events, nil
}

// objectData is the data of an event that carries the invoice alone.
type objectData struct {
	Object InvoiceObject `json:"object"`
}

// newEvent returns an event of inv with data as its JSON.
func (s *Service) newEvent(inv *Invoice, typ string, data any) (Event, error) {
	e := eventJSON.Get().(*jsonBuffer)
	defer eventJSON.Put(e)
	e.buf.Reset()
	// As json.Marshal writes it, but copied once, into the string, from a
	// reused buffer.
	if err := e.enc.Encode(data); err != nil {
		return Event{}, err
	}
	return Event{
		ID: NewID("evt_", inv.UpdatedAt), MerchantID: inv.MerchantID, Mode: inv.Mode, Type: typ,
		InvoiceID: inv.ID, CreatedAt: inv.UpdatedAt, Data: string(bytes.TrimSuffix(e.buf.Bytes(), []byte("\n"))),
	}, nil
}

// jsonBuffer is a buffer with an encoder writing into it.
type jsonBuffer struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var eventJSON = sync.Pool{New: func() any {
	e := new(jsonBuffer)
	e.enc = json.NewEncoder(&e.buf)
	return e
}}

// CountByStatus counts invoices by status across merchants, for metrics.
func (s *Service) CountByStatus(ctx context.Context) (map[Status]int, error) {
	var rows []struct {
		Status Status `bun:"status"`
		N      int    `bun:"n"`
	}
	err := s.db.NewSelect().Model((*Invoice)(nil)).ColumnExpr("status, count(*) AS n").Group("status").Scan(ctx, &rows)
	out := make(map[Status]int, len(Statuses))
	for _, st := range Statuses {
		out[st] = 0
	}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, err
}

// Ping checks that the database answers.
func (s *Service) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }
