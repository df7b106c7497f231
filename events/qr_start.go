package events

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/settlepay/settle/invoice"
)

// QRStartConfig tunes the sending of QR session requests (start, canceled,
// timed_out) to QR codes' receivers. Zero fields take their defaults.
type QRStartConfig struct {
	// Timeout bounds one attempt (default 10 s): a 2xx within it delivers
	// the request.
	Timeout time.Duration
	// Retries are the waits before the second and third attempts (default
	// 1 s and 2 s): a payor is waiting in front of the machine, so a
	// request is made at most len(Retries)+1 times, within seconds.
	Retries []time.Duration
	// PollInterval bounds how long Run waits without a wake-up before it
	// looks again (default 5 s): it waits until the next request falls due
	// or the next order times out, and a scan in this process wakes it, so
	// the bound only matters for work another instance left behind.
	PollInterval time.Duration
	// AllowPrivateAddresses lets receivers be on loopback and private
	// addresses (SETTLE_WEBHOOK_ALLOW_PRIVATE), as for webhook endpoints.
	AllowPrivateAddresses bool
	// Now is the clock of the timestamps (default time.Now).
	Now func() time.Time
}

func (c *QRStartConfig) defaults() {
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if len(c.Retries) == 0 {
		c.Retries = []time.Duration{time.Second, 2 * time.Second}
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// QRStarts sends QR sessions' requests to their codes' receivers from the
// store (invoice.QRRequest rows), so that a restart loses none, and ends
// sessions whose order timeout passed. Each request is signed the
// Standard Webhooks way (webhook-id = its idempotency key) with the code's
// secret, and carries the same body as an HS256 JWT in Authorization:
// Bearer, for receivers that expect one.
type QRStarts struct {
	svc    *invoice.Service
	log    *slog.Logger
	cfg    QRStartConfig
	client *client
	wake   chan struct{}
}

// NewQRStarts returns the sender over svc; log may be nil.
func NewQRStarts(svc *invoice.Service, log *slog.Logger, cfg QRStartConfig) *QRStarts {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &QRStarts{svc: svc, log: log, cfg: cfg, client: newClient(cfg.AllowPrivateAddresses, nil), wake: make(chan struct{}, 1)}
}

// Policy is the address policy of start URLs, the webhooks' one.
func (q *QRStarts) Policy() AddressPolicy {
	return AddressPolicy{AllowPrivate: q.cfg.AllowPrivateAddresses}
}

// Wake makes Run look for due requests at once (a scan was just stored).
func (q *QRStarts) Wake() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Run sends due requests and times out sessions until ctx ends.
func (q *QRStarts) Run(ctx context.Context) {
	t := time.NewTimer(q.cfg.PollInterval)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		if _, err := q.svc.TimeOutQRSessions(ctx); err != nil && ctx.Err() == nil {
			q.log.Warn("qr sessions: time out", "err", err)
		}
		jobs, err := q.svc.ClaimQRRequests(ctx, 32, q.cfg.Timeout+30*time.Second)
		if err != nil && ctx.Err() == nil {
			q.log.Warn("qr sessions: claim requests", "err", err)
		}
		for _, job := range jobs {
			wg.Go(func() { q.send(ctx, job) })
		}
		// Idle, this costs one read per PollInterval: wait for the next
		// due moment, a wake-up, or the bound.
		wait := q.cfg.PollInterval
		if len(jobs) == 32 {
			wait = 0 // more may be due
		} else if due, err := q.svc.NextQRDue(ctx); err != nil && ctx.Err() == nil {
			q.log.Warn("qr sessions: next due", "err", err)
		} else if !due.IsZero() {
			wait = min(wait, max(due.Sub(q.svc.Now()), time.Millisecond))
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-q.wake:
		}
	}
}

// send makes one attempt of job and records it.
func (q *QRStarts) send(ctx context.Context, job invoice.QRJob) {
	body := []byte(job.Body)
	res := invoice.QRResult{Final: job.Attempts > len(q.cfg.Retries)}
	if !res.Final {
		res.Retry = q.cfg.Retries[job.Attempts-1]
	}
	header, err := SignQRRequest(job.Secret, job.IdempotencyKey, q.cfg.Now(), body)
	if err != nil {
		res.Err, res.Final = err.Error(), true
	} else {
		actx, cancel := context.WithTimeout(ctx, q.cfg.Timeout)
		rep, err := q.client.post(actx, job.URL, header, body)
		cancel()
		if err != nil {
			res.Err = err.Error()
			if ctx.Err() != nil {
				return // shutting down: the lease runs out and another attempt is made
			}
		}
		res.Status = rep.status
		if rep.status == 412 {
			var down struct {
				Text string `json:"down_response_text"`
			}
			json.Unmarshal([]byte(rep.excerpt), &down)
			res.DownText = down.Text
		} else if rep.status != 0 && (rep.status < 200 || rep.status > 299) {
			res.Err = "HTTP " + strconv.Itoa(rep.status) + ": " + truncate(rep.excerpt, 200)
		}
	}
	if res.Err != "" {
		q.log.Warn("qr session request failed", "qr_session_id", job.SessionID, "kind", job.Kind, "attempt", job.Attempts, "err", res.Err)
	}
	if err := q.svc.RecordQRAttempt(context.WithoutCancel(ctx), job, res); err != nil {
		q.log.Warn("qr sessions: record attempt", "qr_session_id", job.SessionID, "err", err)
	}
	q.Wake() // a retry may now be due sooner than Run's wait
}

// SignQRRequest returns the headers of a QR session request (name, value
// pairs): the Standard Webhooks ones under id (the idempotency key) and
// ts, and Authorization: Bearer with an HS256 JWT whose payload is body
// itself, keyed with the secret's bytes (the base64 after whsec_, as
// Standard Webhooks keys its HMAC).
func SignQRRequest(secret, id string, ts time.Time, body []byte) ([]string, error) {
	sig, err := Sign(secret, id, ts, body)
	if err != nil {
		return nil, err
	}
	jwt, err := QRJWT(secret, body)
	if err != nil {
		return nil, err
	}
	return []string{
		"Content-Type", "application/json",
		"User-Agent", "settle-qr/1",
		"webhook-id", id,
		"webhook-timestamp", strconv.FormatInt(ts.Unix(), 10),
		"webhook-signature", sig,
		"Authorization", "Bearer " + jwt,
	}, nil
}

// QRJWT returns body as the payload of a compact HS256 JWT under the key
// of a whsec_ secret.
func QRJWT(secret string, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || !strings.HasPrefix(secret, SecretPrefix) {
		return "", ErrBadSecret
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(body)
	mac := hmac.New(sha256.New, key)
	fmt.Fprint(mac, signing)
	return signing + "." + enc.EncodeToString(mac.Sum(nil)), nil
}
