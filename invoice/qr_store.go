package invoice

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// The SQL of locations, QR codes, QR sessions and their requests.

// --- locations ---

// CreateLocation stores a location named name.
func (s *Service) CreateLocation(ctx context.Context, merchantID string, mode Mode, name string) (Location, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8Len(name) > maxNameLen {
		return Location{}, &ValidationError{Fields: []*FieldError{{Field: "name", Code: "invalid_name", Rule: fmt.Sprintf("1 to %d characters", maxNameLen)}}}
	}
	now := s.Now()
	l := Location{ID: NewID("loc_", now), MerchantID: merchantID, Mode: mode, Name: name, CreatedAt: now}
	if _, err := s.idb(ctx).NewInsert().Model(&l).Returning("NULL").Exec(ctx); err != nil {
		return Location{}, fmt.Errorf("create location: %w", err)
	}
	return l, nil
}

// Location returns the merchant's location id in mode.
func (s *Service) Location(ctx context.Context, merchantID string, mode Mode, id string) (Location, error) {
	var l Location
	err := s.idb(ctx).NewSelect().Model(&l).Where("id = ? AND merchant_id = ? AND mode = ?", id, merchantID, mode).Scan(ctx)
	return l, notFound(err)
}

// Locations lists the merchant's locations in mode, newest first, after
// the cursor.
func (s *Service) Locations(ctx context.Context, merchantID string, mode Mode, after string, limit int) ([]Location, bool, error) {
	var out []Location
	q := s.idb(ctx).NewSelect().Model(&out).Where("merchant_id = ? AND mode = ?", merchantID, mode)
	if err := page(ctx, q, after, limit); err != nil {
		return nil, false, err
	}
	out, more := More(out, limit)
	return out, more, nil
}

// DeactivateLocation deactivates a location: its codes open no session
// from now on. Deactivating twice is not an error.
func (s *Service) DeactivateLocation(ctx context.Context, merchantID string, mode Mode, id string) (Location, error) {
	if _, err := s.idb(ctx).NewUpdate().Model((*Location)(nil)).Set("deactivated_at = COALESCE(deactivated_at, ?)", s.Now()).
		Where("id = ? AND merchant_id = ? AND mode = ?", id, merchantID, mode).Exec(ctx); err != nil {
		return Location{}, err
	}
	return s.Location(ctx, merchantID, mode, id)
}

// --- QR codes ---

// CreateQRCode stores a static code. Its serial is p.Code, or a generated
// one; a serial taken by the merchant (in either mode, active or not) is
// refused with a field error.
func (s *Service) CreateQRCode(ctx context.Context, p QRCodeParams) (QRCode, error) {
	if err := p.check(); err != nil {
		return QRCode{}, err
	}
	now := s.Now()
	c := QRCode{
		ID: NewID("qrc_", now), MerchantID: p.MerchantID, Mode: p.Mode, LocationID: p.LocationID, Code: p.Code,
		Description: p.Description, AllowTip: p.AllowTip, AllowDynamicInvoice: p.AllowDynamicInvoice,
		OrderTimeoutSeconds: p.OrderTimeoutSeconds, PaymentTimeoutSeconds: p.PaymentTimeoutSeconds,
		StartURL: p.StartURL, Secret: p.Secret, CreatedAt: now,
	}
	err := s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		l, err := s.Location(ctx, p.MerchantID, p.Mode, p.LocationID)
		if errors.Is(err, ErrNotFound) {
			return &ValidationError{Fields: []*FieldError{{Field: "location_id", Code: "invalid_location", Rule: "no such location in this mode"}}}
		} else if err != nil {
			return err
		}
		if l.DeactivatedAt != nil {
			return &ValidationError{Fields: []*FieldError{{Field: "location_id", Code: "invalid_location", Rule: "the location is deactivated"}}}
		}
		n, err := tx.NewSelect().Model((*QRCode)(nil)).Where("merchant_id = ? AND code = ?", p.MerchantID, p.Code).Count(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			return &ValidationError{Fields: []*FieldError{{Field: "qr_code", Code: "qr_code_taken", Rule: "this serial is already used by one of your codes (in test or live mode, active or not)"}}}
		}
		_, err = tx.NewInsert().Model(&c).Returning("NULL").Exec(ctx)
		return err
	})
	if err != nil {
		var v *ValidationError
		if errors.As(err, &v) {
			return QRCode{}, err
		}
		return QRCode{}, fmt.Errorf("create qr code: %w", err)
	}
	return c, nil
}

// QRCode returns the merchant's code id in mode.
func (s *Service) QRCode(ctx context.Context, merchantID string, mode Mode, id string) (QRCode, error) {
	var c QRCode
	err := s.idb(ctx).NewSelect().Model(&c).Where("id = ? AND merchant_id = ? AND mode = ?", id, merchantID, mode).Scan(ctx)
	return c, notFound(err)
}

// QRCodeBySerial returns the merchant's code with serial code, in either
// mode, with its location.
func (s *Service) QRCodeBySerial(ctx context.Context, merchantID, code string) (QRCode, Location, error) {
	var c QRCode
	if err := s.idb(ctx).NewSelect().Model(&c).Where("merchant_id = ? AND code = ?", merchantID, code).Scan(ctx); err != nil {
		return QRCode{}, Location{}, notFound(err)
	}
	l, err := s.Location(ctx, c.MerchantID, c.Mode, c.LocationID)
	return c, l, err
}

// QRCodes lists the merchant's codes in mode, newest first.
func (s *Service) QRCodes(ctx context.Context, merchantID string, mode Mode, after string, limit int) ([]QRCode, bool, error) {
	var out []QRCode
	q := s.idb(ctx).NewSelect().Model(&out).Where("merchant_id = ? AND mode = ?", merchantID, mode)
	if err := page(ctx, q, after, limit); err != nil {
		return nil, false, err
	}
	out, more := More(out, limit)
	return out, more, nil
}

// DeactivateQRCode deactivates a code: scanning it opens nothing. Its
// serial stays taken, so that a printed sticker never reaches another code.
func (s *Service) DeactivateQRCode(ctx context.Context, merchantID string, mode Mode, id string) (QRCode, error) {
	if _, err := s.idb(ctx).NewUpdate().Model((*QRCode)(nil)).Set("deactivated_at = COALESCE(deactivated_at, ?)", s.Now()).
		Where("id = ? AND merchant_id = ? AND mode = ?", id, merchantID, mode).Exec(ctx); err != nil {
		return QRCode{}, err
	}
	return s.QRCode(ctx, merchantID, mode, id)
}

// page applies cursor paging (newest first, after = the last id seen) to
// q and scans one more row than limit (into q's model) to tell whether
// more follow; More trims it.
func page(ctx context.Context, q *bun.SelectQuery, after string, limit int) error {
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	if after != "" {
		q = q.Where("id < ?", after)
	}
	return q.OrderExpr("id DESC").Limit(int64(limit + 1)).Scan(ctx)
}

// More trims a page scanned by the list functions (limit+1 rows) to limit
// and reports whether more followed.
func More[T any](rows []T, limit int) ([]T, bool) {
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	if len(rows) > limit {
		return rows[:limit], true
	}
	return rows, false
}

func utf8Len(s string) int { return len([]rune(s)) }

// --- QR sessions ---

// StartRequest is the body of a start_qr_session request, and of the JWT
// that carries it (iat and exp are its claims: the scan and the order
// deadline).
type StartRequest struct {
	Type                  string          `json:"type"`
	SessionID             string          `json:"session_id"`
	IdempotencyKey        string          `json:"idempotency_key"`
	Mode                  Mode            `json:"mode"`
	QRID                  string          `json:"qr_id"`
	LocationID            string          `json:"location_id"`
	QRCode                string          `json:"qr_code"`
	AllowTip              bool            `json:"allow_tip"`
	ExecuteAt             time.Time       `json:"execute_at"`
	OrderExpiresAt        time.Time       `json:"order_expires_at"`
	OrderTimeoutSeconds   int64           `json:"order_timeout_seconds"`
	PaymentTimeoutSeconds int64           `json:"payment_timeout_seconds"`
	Dynamic               json.RawMessage `json:"dynamic"`
	OrderKey              string          `json:"order_key,omitempty"`
	IssuedAt              int64           `json:"iat"`
	Expires               int64           `json:"exp"`
}

// StartQRSession opens a session for a scan of the merchant's code with
// the given dynamic data (already checked by ParseDynamic, or ""): it
// mints the one-time order key and queues the start request (unless notify
// is false: a dynamic scan whose invoice is created at once), all in one
// transaction with the qr_session.created event.
func (s *Service) StartQRSession(ctx context.Context, merchantID, code, dynamic string, notify bool) (QRSession, error) {
	var sess QRSession
	err := s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		c, l, err := s.QRCodeBySerial(ctx, merchantID, code)
		if err != nil {
			return err
		}
		if c.DeactivatedAt != nil || l.DeactivatedAt != nil {
			return ErrQRInactive
		}
		now := s.Now()
		sess = QRSession{
			ID: NewID("qrs_", now), MerchantID: c.MerchantID, Mode: c.Mode, QRCodeID: c.ID, LocationID: c.LocationID,
			Token: randomToken(20), Status: QRWaiting, Dynamic: dynamic, AllowTip: c.AllowTip,
			OrderTimeoutSeconds: c.OrderTimeoutSeconds, PaymentTimeoutSeconds: c.PaymentTimeoutSeconds,
			OrderExpiresAt: now.Add(time.Duration(c.OrderTimeoutSeconds) * time.Second), CreatedAt: now, UpdatedAt: now,
		}
		if _, err := tx.NewInsert().Model(&sess).Returning("NULL").Exec(ctx); err != nil {
			return err
		}
		if !notify {
			return s.writeQREvent(ctx, tx, &sess, EventQRSessionCreated)
		}
		key, _, err := s.CreateBoundKey(ctx, c.MerchantID, c.Mode, ScopeOrder, sess.ID)
		if err != nil {
			return err
		}
		body := StartRequest{
			Type: QRRequestStart, SessionID: sess.ID, Mode: sess.Mode, QRID: c.ID, LocationID: c.LocationID, QRCode: c.Code,
			AllowTip: c.AllowTip, ExecuteAt: now, OrderExpiresAt: sess.OrderExpiresAt,
			OrderTimeoutSeconds: c.OrderTimeoutSeconds, PaymentTimeoutSeconds: c.PaymentTimeoutSeconds,
			Dynamic: json.RawMessage("null"), OrderKey: key, IssuedAt: now.Unix(), Expires: sess.OrderExpiresAt.Unix(),
		}
		if dynamic != "" {
			body.Dynamic = json.RawMessage(dynamic)
		}
		if err := s.queueQRRequest(ctx, tx, &sess, body); err != nil {
			return err
		}
		return s.writeQREvent(ctx, tx, &sess, EventQRSessionCreated)
	})
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrQRInactive) {
		return QRSession{}, fmt.Errorf("start qr session: %w", err)
	}
	return sess, err
}

// queueQRRequest stores a request of body's type for sess, due now.
func (s *Service) queueQRRequest(ctx context.Context, tx bun.IDB, sess *QRSession, body StartRequest) error {
	now := s.Now()
	body.IdempotencyKey = NewID("idk_", now)
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	r := QRRequest{ID: NewID("qrr_", now), SessionID: sess.ID, Kind: body.Type, IdempotencyKey: body.IdempotencyKey,
		Body: string(b), NextAttemptAt: &now, CreatedAt: now}
	_, err = tx.NewInsert().Model(&r).Returning("NULL").Exec(ctx)
	return err
}

// writeQREvent writes a qr_session event for sess as it now stands.
func (s *Service) writeQREvent(ctx context.Context, tx bun.IDB, sess *QRSession, typ string) error {
	b, err := json.Marshal(struct {
		Object QRSessionObject `json:"object"`
	}{sess.Object()})
	if err != nil {
		return err
	}
	return InsertEvents(ctx, tx, Event{ID: NewID("evt_", sess.UpdatedAt), MerchantID: sess.MerchantID, Mode: sess.Mode,
		Type: typ, CreatedAt: sess.UpdatedAt, Data: string(b)})
}

// lockQRSession reads a session for update (see lock).
func lockQRSession(ctx context.Context, tx bun.IDB, where string, arg any) (QRSession, error) {
	var sess QRSession
	q := tx.NewSelect().Model(&sess).Where(where, arg)
	if tx.Dialect().Name() == dialect.PG {
		q = q.For("UPDATE")
	}
	err := q.Scan(ctx)
	return sess, notFound(err)
}

// QRSession returns the merchant's session id in mode.
func (s *Service) QRSession(ctx context.Context, merchantID string, mode Mode, id string) (QRSession, error) {
	var sess QRSession
	err := s.idb(ctx).NewSelect().Model(&sess).Where("id = ? AND merchant_id = ? AND mode = ?", id, merchantID, mode).Scan(ctx)
	return sess, notFound(err)
}

// QRSessionByToken returns the session whose payor token is token, and its
// invoice once it has one.
func (s *Service) QRSessionByToken(ctx context.Context, token string) (QRSession, *Invoice, error) {
	var sess QRSession
	if err := s.idb(ctx).NewSelect().Model(&sess).Where("token = ?", token).Scan(ctx); err != nil {
		return QRSession{}, nil, notFound(err)
	}
	if sess.InvoiceID == "" {
		return sess, nil, nil
	}
	inv, err := s.Get(ctx, sess.MerchantID, sess.Mode, sess.InvoiceID)
	if err != nil {
		return QRSession{}, nil, err
	}
	return sess, &inv, nil
}

// CancelQRSession ends a waiting session whose payor left (its token
// given): a start request not yet sent is dropped, otherwise a canceled
// request follows it. A session that is no longer waiting is returned as
// it is.
func (s *Service) CancelQRSession(ctx context.Context, token string) (QRSession, error) {
	var sess QRSession
	err := s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		var err error
		if sess, err = lockQRSession(ctx, tx, "token = ?", token); err != nil {
			return err
		}
		return s.endQRSession(ctx, tx, &sess, QRCanceled)
	})
	return sess, err
}

// TimeOutQRSessions ends the waiting sessions whose order timeout has
// passed (at most 100 per call) and reports how many it ended.
func (s *Service) TimeOutQRSessions(ctx context.Context) (int, error) {
	var ids []string
	if err := s.db.NewSelect().Model((*QRSession)(nil)).Column("id").
		Where("status = ? AND order_expires_at <= ?", QRWaiting, s.Now()).OrderExpr("order_expires_at").Limit(100).Scan(ctx, &ids); err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		err := s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
			sess, err := lockQRSession(ctx, tx, "id = ?", id)
			if err != nil {
				return err
			}
			if sess.Status == QRWaiting && !s.Now().Before(sess.OrderExpiresAt) {
				n++
				return s.endQRSession(ctx, tx, &sess, QRTimedOut)
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("time out qr session %s: %w", id, err)
		}
	}
	return n, nil
}

// endQRSession moves a waiting session, locked in tx, to canceled or
// timed_out and tells the receiver if it was told of the start.
func (s *Service) endQRSession(ctx context.Context, tx bun.IDB, sess *QRSession, to QRSessionStatus) error {
	if sess.Status != QRWaiting {
		return nil
	}
	var start QRRequest
	if err := tx.NewSelect().Model(&start).Where("session_id = ? AND kind = ?", sess.ID, QRRequestStart).Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	now := s.Now()
	if start.ID != "" && start.Outcome == "" {
		// Retries of the start stop; if none was sent yet, the receiver
		// never hears of this session.
		if _, err := tx.NewUpdate().Model((*QRRequest)(nil)).
			Set("next_attempt_at = NULL, outcome = 'dropped', body = '', done_at = ?", now).
			Where("id = ? AND outcome = ''", start.ID).Exec(ctx); err != nil {
			return err
		}
	}
	if start.Attempts > 0 {
		var c QRCode
		if err := tx.NewSelect().Model(&c).Where("id = ?", sess.QRCodeID).Scan(ctx); err != nil {
			return err
		}
		kind := QRRequestCanceled
		if to == QRTimedOut {
			kind = QRRequestTimedOut
		}
		if err := s.queueQRRequest(ctx, tx, sess, StartRequest{
			Type: kind, SessionID: sess.ID, Mode: sess.Mode, QRID: c.ID, LocationID: sess.LocationID, QRCode: c.Code,
			AllowTip: sess.AllowTip, ExecuteAt: sess.CreatedAt, OrderExpiresAt: sess.OrderExpiresAt,
			OrderTimeoutSeconds: sess.OrderTimeoutSeconds, PaymentTimeoutSeconds: sess.PaymentTimeoutSeconds,
			Dynamic: dynamicJSON(sess.Dynamic), IssuedAt: now.Unix(), Expires: now.Add(5 * time.Minute).Unix(),
		}); err != nil {
			return err
		}
	}
	return s.setQRStatus(ctx, tx, sess, to, "")
}

func dynamicJSON(d string) json.RawMessage {
	if d == "" {
		return json.RawMessage("null")
	}
	return json.RawMessage(d)
}

// setQRStatus moves a locked session and writes its event.
func (s *Service) setQRStatus(ctx context.Context, tx bun.IDB, sess *QRSession, to QRSessionStatus, downText string) error {
	sess.Status, sess.UpdatedAt = to, s.Now()
	if downText != "" {
		sess.DownText = downText
	}
	if _, err := tx.NewUpdate().Model(sess).Column("status", "down_text", "invoice_id", "updated_at").WherePK().Exec(ctx); err != nil {
		return err
	}
	return s.writeQREvent(ctx, tx, sess, EventQRSessionUpdated)
}

// claimQRSession binds a new invoice to its QR session, in the creating
// transaction: the session must be the merchant's, waiting and within its
// order timeout, and have no invoice yet. The invoice takes the session's
// location and dynamic data (as dynamic.* metadata), and its payment
// timeout unless the merchant gave an expiry.
func (s *Service) claimQRSession(ctx context.Context, tx bun.IDB, inv *Invoice, id string, defaultExpiry bool) error {
	sess, err := lockQRSession(ctx, tx, "id = ?", id)
	if errors.Is(err, ErrNotFound) || err == nil && (sess.MerchantID != inv.MerchantID || sess.Mode != inv.Mode) {
		return &ValidationError{Fields: []*FieldError{{Field: "qr_session_id", Code: "invalid_qr_session", Rule: "no such QR session in this mode"}}}
	}
	if err != nil {
		return err
	}
	switch {
	case sess.InvoiceID != "":
		return ErrQRSessionUsed
	case sess.Status != QRWaiting || !inv.CreatedAt.Before(sess.OrderExpiresAt):
		return ErrQRSessionClosed
	}
	sess.InvoiceID = inv.ID
	res, err := tx.NewUpdate().Model((*QRSession)(nil)).Set("invoice_id = ?", inv.ID).
		Where("id = ? AND invoice_id IS NULL", sess.ID).Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrQRSessionUsed
	}
	// A start still being retried is moot now.
	if _, err := tx.NewUpdate().Model((*QRRequest)(nil)).
		Set("next_attempt_at = NULL, outcome = 'dropped', body = '', done_at = ?", inv.CreatedAt).
		Where("session_id = ? AND outcome = ''", sess.ID).Exec(ctx); err != nil {
		return err
	}
	inv.LocationID, inv.QRSessionID = sess.LocationID, sess.ID
	mergeDynamic(inv.Metadata, sess.Dynamic)
	if sess.AllowTip && !inv.AllowTip {
		// The code lets its payors tip: so does its invoice, unless the
		// creator allowed tips itself (with its own cap).
		inv.AllowTip, inv.TipCapPercent = true, DefaultTipCapPercent
	}
	if defaultExpiry {
		inv.ExpiresAt = inv.CreatedAt.Add(time.Duration(sess.PaymentTimeoutSeconds) * time.Second)
	}
	return s.setQRStatus(ctx, tx, &sess, QRInvoiced, "")
}

// NextQRDue returns when the next start request falls due or the next
// waiting session's order times out, whichever is first; the zero time
// when neither is pending. A leased request counts from its lease's end.
func (s *Service) NextQRDue(ctx context.Context) (time.Time, error) {
	var next struct {
		Request *time.Time `bun:"request"`
		Session *time.Time `bun:"session"`
	}
	err := s.idb(ctx).NewSelect().
		ColumnExpr("(SELECT MIN(CASE WHEN locked_until IS NOT NULL AND locked_until > next_attempt_at THEN locked_until ELSE next_attempt_at END) FROM qr_session_requests WHERE next_attempt_at IS NOT NULL) AS request").
		ColumnExpr("(SELECT MIN(order_expires_at) FROM qr_sessions WHERE status = ?) AS session", QRWaiting).
		Scan(ctx, &next)
	if err != nil {
		return time.Time{}, fmt.Errorf("next qr due: %w", err)
	}
	var due time.Time
	for _, t := range []*time.Time{next.Request, next.Session} {
		if t != nil && (due.IsZero() || t.Before(due)) {
			due = *t
		}
	}
	return due, nil
}

// --- start requests (sent by the events package) ---

// QRJob is a claimed request with what sending it needs.
type QRJob struct {
	QRRequest
	URL, Secret string
}

// ClaimQRRequests leases up to limit due requests for lease and counts
// the attempt; on Postgres, instances claim disjoint rows.
func (s *Service) ClaimQRRequests(ctx context.Context, limit int, lease time.Duration) ([]QRJob, error) {
	now := s.Now()
	var reqs []QRRequest
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		q := tx.NewSelect().Model(&reqs).
			Where("next_attempt_at <= ? AND (locked_until IS NULL OR locked_until <= ?)", now, now).
			OrderExpr("next_attempt_at").Limit(int64(limit))
		if tx.Dialect().Name() == dialect.PG {
			q = q.For("UPDATE SKIP LOCKED")
		}
		if err := q.Scan(ctx); err != nil || len(reqs) == 0 {
			return err
		}
		ids := make([]string, len(reqs))
		for i := range reqs {
			ids[i] = reqs[i].ID
			reqs[i].Attempts++
		}
		_, err := tx.NewUpdate().Model((*QRRequest)(nil)).Set("attempts = attempts + 1, locked_until = ?", now.Add(lease)).
			Where("id IN (?)", bun.In(ids)).Exec(ctx)
		return err
	})
	if err != nil || len(reqs) == 0 {
		return nil, err
	}
	jobs := make([]QRJob, 0, len(reqs))
	for _, r := range reqs {
		var c struct {
			StartURL string `bun:"start_url"`
			Secret   string `bun:"secret"`
		}
		err := s.db.NewSelect().TableExpr("qr_codes AS c").Join("JOIN qr_sessions AS q ON q.qr_code_id = c.id").
			ColumnExpr("c.start_url, c.secret").Where("q.id = ?", r.SessionID).Scan(ctx, &c)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, QRJob{QRRequest: r, URL: c.StartURL, Secret: c.Secret})
	}
	return jobs, nil
}

// QRResult is how one attempt of a request went.
type QRResult struct {
	Status   int    // the receiver's HTTP status, 0 if none
	Err      string // what failed, for the record
	DownText string // a 412's down_response_text
	Retry    time.Duration
	Final    bool // no attempt follows a failure
}

// RecordQRAttempt records an attempt of a claimed request: a 2xx delivers
// it; a 412 to a start puts its session down with the receiver's text; a
// failure is retried after r.Retry, or, if r.Final, ends the request (and
// a start's session as failed). A request dropped meanwhile is left alone.
func (s *Service) RecordQRAttempt(ctx context.Context, job QRJob, r QRResult) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		now := s.Now()
		var cur QRRequest
		if err := tx.NewSelect().Model(&cur).Where("id = ?", job.ID).Scan(ctx); err != nil {
			return err
		}
		if cur.Outcome != "" {
			return nil
		}
		upd := tx.NewUpdate().Model((*QRRequest)(nil)).Where("id = ?", job.ID).
			Set("last_status = ?, last_error = ?, locked_until = NULL", r.Status, truncateText(r.Err, 500))
		outcome := ""
		switch {
		case r.Status >= 200 && r.Status < 300:
			outcome = "delivered"
		case r.Status == 412 && job.Kind == QRRequestStart:
			outcome = "down"
		case r.Final:
			outcome = "failed"
		}
		if outcome == "" {
			upd = upd.Set("next_attempt_at = ?", now.Add(r.Retry))
		} else {
			upd = upd.Set("next_attempt_at = NULL, body = '', outcome = ?, done_at = ?", outcome, now)
		}
		if _, err := upd.Exec(ctx); err != nil {
			return err
		}
		if job.Kind != QRRequestStart || (outcome != "down" && outcome != "failed") {
			return nil
		}
		sess, err := lockQRSession(ctx, tx, "id = ?", job.SessionID)
		if err != nil || sess.Status != QRWaiting || sess.InvoiceID != "" {
			return err
		}
		if outcome == "down" {
			text := truncateText(r.DownText, maxDownText)
			if text == "" {
				text = "The machine is not available."
			}
			return s.setQRStatus(ctx, tx, &sess, QRDown, text)
		}
		return s.setQRStatus(ctx, tx, &sess, QRFailed, "")
	})
}

func truncateText(s string, n int) string {
	r := []rune(strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), ""))
	if len(r) > n {
		r = r[:n]
	}
	return string(r)
}
