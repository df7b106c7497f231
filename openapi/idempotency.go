package openapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/invoice"
)

// IdempotencyTTL is how long a key's response is kept and replayed.
const IdempotencyTTL = 24 * time.Hour

type idempotencyRecord struct {
	bun.BaseModel `bun:"table:idempotency_keys"`
	MerchantID    string       `bun:"merchant_id,pk"`
	Mode          invoice.Mode `bun:"mode,pk"`
	Key           string       `bun:"key,pk"`
	RequestHash   string       `bun:"request_hash"`
	StatusCode    int          `bun:"status_code"`
	ContentType   string       `bun:"content_type"`
	ResponseBody  string       `bun:"response_body"`
	CreatedAt     time.Time    `bun:"created_at"`
}

// idempotent makes every POST with an Idempotency-Key run at most once per
// merchant, mode and key. The key's record is inserted in the transaction
// that does the work (handlers join it through invoice.WithTx), so a
// successful response and its record commit together or not at all; a
// concurrent retry waits on the uncommitted record (Postgres blocks the
// insert, SQLite has one writer) and then replays the stored response.
// Only 2xx responses are kept: a rejected request can be corrected and sent
// again with the same key.
func (s *server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		p := principal(r.Context())
		if r.Method != http.MethodPost || key == "" || p.MerchantID == "" {
			next.ServeHTTP(w, r)
			return
		}
		if len(key) > 255 {
			writeProblem(w, r, problem(http.StatusBadRequest, "invalid_idempotency_key", "Idempotency-Key is at most 255 characters."))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
		if err != nil {
			writeProblem(w, r, problem(http.StatusBadRequest, "bad_request", "Cannot read the request body."))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if len(body) > maxBodyBytes {
			next.ServeHTTP(w, r) // refused as too large; nothing to remember
			return
		}
		rec := idempotencyRecord{
			MerchantID: p.MerchantID, Mode: p.Mode, Key: key,
			RequestHash: requestHash(r, body),
		}
		ctx := r.Context()
		for range 3 {
			rec.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
			done, err := s.runOnce(ctx, w, r, next, &rec)
			if err != nil {
				s.unavailable(w, r, "idempotency", err)
				return
			}
			if done {
				return
			}
			var prev idempotencyRecord
			err = s.invoices.DB().NewSelect().Model(&prev).
				Where("merchant_id = ? AND mode = ? AND key = ?", rec.MerchantID, rec.Mode, rec.Key).Scan(ctx)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				continue // the other request rolled back; try to take the key
			case err != nil:
				s.unavailable(w, r, "idempotency", err)
				return
			case time.Since(prev.CreatedAt) > IdempotencyTTL:
				s.invoices.DB().NewDelete().Model(&prev).WherePK().Where("created_at = ?", prev.CreatedAt).Exec(ctx)
				continue
			case prev.RequestHash != rec.RequestHash:
				writeProblem(w, r, problem(http.StatusConflict, "idempotency_conflict",
					"This Idempotency-Key was used with another request; use a new key for a new request."))
				return
			}
			body, err := s.unsealSecret(ctx, p, prev.ResponseBody)
			switch {
			case errors.Is(err, errSecretRotated):
				writeProblem(w, r, problem(http.StatusConflict, "secret_rotated",
					"This Idempotency-Key's request answered a webhook endpoint secret that has since been rotated (or the endpoint deleted); an old secret is never shown again. Retrieve the endpoint, or rotate its secret to get a new one."))
				return
			case err != nil:
				s.unavailable(w, r, "idempotency", err)
				return
			}
			w.Header().Set("Content-Type", prev.ContentType)
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(prev.StatusCode)
			io.WriteString(w, body)
			return
		}
		writeProblem(w, r, problem(http.StatusConflict, "idempotency_conflict", "This Idempotency-Key is in use by a request in progress."))
	})
}

// runOnce tries to take the key and run the request in one transaction. It
// reports false, with nothing written, when the key is already taken.
func (s *server) runOnce(ctx context.Context, w http.ResponseWriter, r *http.Request, next http.Handler, rec *idempotencyRecord) (bool, error) {
	tx, err := s.invoices.DB().BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := tx.NewInsert().Model(rec).On("CONFLICT DO NOTHING").Exec(ctx)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	out := &recorder{ResponseWriter: w, body: new(bytes.Buffer)}
	next.ServeHTTP(out, r.WithContext(invoice.WithTx(ctx, tx)))
	if out.status == 0 {
		out.status = http.StatusOK // nothing written means 200, as net/http has it
	}
	if out.status >= 200 && out.status < 300 {
		rec.StatusCode = out.status
		rec.ContentType = w.Header().Get("Content-Type")
		rec.ResponseBody = sealSecret(out.body.String())
		if _, err := tx.NewUpdate().Model(rec).Column("status_code", "content_type", "response_body").WherePK().Exec(ctx); err != nil {
			return false, err
		}
		if err := tx.Commit(); err != nil {
			return false, err
		}
		s.invoices.EventsWritten()
	} else {
		tx.Rollback()
	}
	w.WriteHeader(out.status)
	w.Write(out.body.Bytes())
	return true, nil
}

// requestHash identifies a request by method, path, query and body: the
// query by its decoded parameters in key order (so ?after=x under a key is
// not ?after=y), a JSON body by content, so key order, spacing and
// escaping do not matter. Without a query the hash is what it was before
// queries counted, so keys stored then still replay.
func requestHash(r *http.Request, body []byte) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err == nil && !dec.More() {
		if canonical, err := json.Marshal(v); err == nil {
			body = canonical
		}
	}
	h := sha256.New()
	io.WriteString(h, r.Method+" "+r.URL.Path)
	if r.URL.RawQuery != "" {
		q := r.URL.RawQuery
		if v, err := url.ParseQuery(q); err == nil {
			q = v.Encode() // sorted by key, each value escaped one way
		}
		io.WriteString(h, "?"+q)
	}
	io.WriteString(h, "\n")
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// PurgeIdempotency deletes records older than the TTL.
func PurgeIdempotency(ctx context.Context, db bun.IDB, now time.Time) (int64, error) {
	res, err := db.NewDelete().Model((*idempotencyRecord)(nil)).
		Where("created_at < ?", now.Add(-IdempotencyTTL).UTC()).Exec(ctx)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
