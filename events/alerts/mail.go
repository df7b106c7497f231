package alerts

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/url"
	"strings"
	"time"
)

// Mailer sends one email.
type Mailer interface {
	Send(ctx context.Context, to []string, subject, body string) error
}

// SMTP sends email through an SMTP server: smtp://[user:pass@]host[:587]
// (STARTTLS when the server offers it; AUTH PLAIN only over TLS or to
// loopback), or smtps://[user:pass@]host[:465] (TLS from the start).
type SMTP struct {
	addr, host string
	implicit   bool
	auth       smtp.Auth
	From       string
	// TLS is the client's TLS configuration (nil: the system's roots,
	// ServerName the host).
	TLS *tls.Config
}

// NewSMTP reads an smtp:// or smtps:// URL; from is the sender address.
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "smtp" && u.Scheme != "smtps") {
		return nil, fmt.Errorf("smtp url %q: want smtp://[user:pass@]host[:port] or smtps://…", redact(rawURL))
	}
	if from == "" || !strings.Contains(from, "@") {
		return nil, fmt.Errorf("alert sender %q: want an email address", from)
	}
	s := &SMTP{host: u.Hostname(), implicit: u.Scheme == "smtps", From: from}
	port := u.Port()
	if port == "" {
		port = map[bool]string{true: "465", false: "587"}[s.implicit]
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		pass, _ := u.User.Password()
		s.auth = smtp.PlainAuth("", u.User.Username(), pass, s.host)
	}
	return s, nil
}

// redact drops the password from an SMTP URL for errors.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Send sends one plain-text email to every address of to.
func (s *SMTP) Send(ctx context.Context, to []string, subject, body string) error {
	d := net.Dialer{Timeout: 15 * time.Second}
	var conn net.Conn
	var err error
	cfg := s.TLS
	if cfg == nil {
		cfg = &tls.Config{ServerName: s.host}
	}
	if s.implicit {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: cfg}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	} else {
		conn.SetDeadline(time.Now().Add(time.Minute))
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && !s.implicit {
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if s.auth != nil {
		if err := c.Auth(s.auth); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(s.From); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return fmt.Errorf("rcpt %s: %w", rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	msg := "From: " + s.From + "\r\nTo: " + strings.Join(to, ", ") + "\r\nSubject: " + oneLine(subject) +
		"\r\nDate: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// oneLine keeps a header value on one line.
func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

// mailEvery bounds the wait between attempts to email one notice.
const mailEvery = time.Hour

// mail sends the notices due, each claimed by one instance at a time; a
// failure is tried again later, sooner at first.
func (e *Engine) mail(ctx context.Context) error {
	if e.cfg.Mailer == nil || len(e.cfg.To) == 0 {
		return nil
	}
	now := e.now()
	var due []Alert
	if err := e.db.NewSelect().Model(&due).Where("mail_due <> '' AND (mail_claimed_until IS NULL OR mail_claimed_until <= ?)", now).
		OrderExpr("updated_at, id").Limit(100).Scan(ctx); err != nil {
		return err
	}
	var errs []error
	for _, a := range due {
		claim := now.Add(2 * time.Minute)
		res, err := e.db.NewUpdate().Model((*Alert)(nil)).Set("mail_claimed_until = ?", claim).
			Where("id = ? AND mail_due = ? AND (mail_claimed_until IS NULL OR mail_claimed_until <= ?)", a.ID, a.MailDue, now).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // claimed by another instance, or changed
		}
		subject, body := notice(&a)
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		serr := e.cfg.Mailer.Send(sctx, e.cfg.To, subject, body)
		cancel()
		if serr != nil {
			retry := min(time.Duration(1<<min(a.MailAttempts, 6))*time.Minute, mailEvery)
			_, err = e.db.NewUpdate().Model((*Alert)(nil)).
				Set("mail_claimed_until = ?, mail_attempts = mail_attempts + 1, mail_error = ?", now.Add(retry), serr.Error()).
				Where("id = ?", a.ID).Exec(ctx)
			errs = append(errs, fmt.Errorf("alert %s: %w", a.ID, serr))
			if err != nil {
				return errors.Join(append(errs, err)...)
			}
			continue
		}
		// Sent. A resolution written meanwhile keeps its own notice due.
		if _, err := e.db.NewUpdate().Model((*Alert)(nil)).
			Set("mail_due = CASE WHEN mail_due = ? THEN '' ELSE mail_due END, mail_claimed_until = NULL, mail_attempts = 0, mail_error = ''", a.MailDue).
			Where("id = ?", a.ID).Exec(ctx); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// notice is the email of a's due notice.
func notice(a *Alert) (subject, body string) {
	who := "the operator"
	if a.MerchantID != "" {
		who = "merchant " + a.MerchantID + " (" + string(a.Mode) + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", a.Message)
	fmt.Fprintf(&b, "alert:    %s\nkind:     %s\nsubject:  %s\nfor:      %s\nfired:    %s\n", a.ID, a.Kind, a.Subject, who, a.FiredAt.Format(time.RFC3339))
	state := "firing"
	if a.MailDue == Resolved && a.ResolvedAt != nil {
		state = "resolved"
		fmt.Fprintf(&b, "resolved: %s (after %s)\n", a.ResolvedAt.Format(time.RFC3339), a.ResolvedAt.Sub(a.FiredAt).Truncate(time.Second))
	}
	return fmt.Sprintf("[settle] %s: %s %s", state, a.Kind, a.Subject), b.String()
}
