// Package client is the Go SDK of the settle API: a typed client of every
// merchant and payor operation in openapi/openapi.yaml (the contract; a
// test checks the client's paths, methods, idempotency and types against
// it), plus what an integration needs around them. The rails' notification
// endpoints (/api/v1/rails/…) are not in it: banks, card processors and
// QRIS forwarders call those with a rail account's callback secret.
//
//   - [New] makes a [Client] of a server and an API key. Money stays a
//     decimal string ("25.00") everywhere, never a float.
//   - Every POST carries an Idempotency-Key: yours with
//     [WithIdempotencyKey] (e.g. the order id), or one made up per call.
//     GETs and keyed POSTs are retried on network errors, 429 (after its
//     Retry-After) and 5xx, with exponential backoff bounded by the
//     context and a [RetryPolicy].
//   - A non-2xx answer is an [*Error] holding the RFC 9457 [Problem]:
//     branch on its Code ([CodeInvalidAmount], [CodeNotFound], …).
//   - [Client.WaitForTerminalStatus] polls an invoice until it is paid,
//     expired, cancelled or invalid.
//   - [Client.Events] walks the recovery feed from a cursor;
//     [Client.Stream] follows the merchant WebSocket, reconnecting with
//     backoff, resuming after the last event and dropping duplicates.
//   - [VerifyWebhook] checks a delivery's Standard Webhooks signature and
//     decodes its [Event].
//   - [Client.PayorSession] is the payor's side of one invoice, authorised
//     by its session headers instead of a key.
//   - Fiat rails (FedNow, RTP, Same-Day ACH, push-to-card, QRIS):
//     [Client.CreateRailAccount] returns the account's callback secret
//     once, to give to the bank, processor or forwarder; invoices then
//     offer the rail, each [Instruction] with its bank details, reference
//     or QRIS payload. [Client.RequestForPayment] is an invoice's ISO 20022
//     pain.013 for your bank; [Client.ListUnmatchedRailCredits] lists what
//     a rail reported for no invoice.
//
// Create an invoice and wait for it to be paid:
//
//	c := client.New("https://pay.example.com", os.Getenv("SETTLE_KEY"))
//	inv, err := c.CreateInvoice(ctx, client.CreateInvoiceParams{
//		Amount: "25.00", Currency: "USD", MerchantOrderID: "order-1042",
//	}, client.WithIdempotencyKey("order-1042"))
//	if err != nil {
//		var e *client.Error
//		if errors.As(err, &e) && e.Code == client.CodeInvalidAmount { … }
//		return err
//	}
//	// send the payor to inv.PaymentURL, or embed with inv.PaymentSessionHeaders
//	st, err := c.WaitForTerminalStatus(ctx, inv.ID) // st.Status: paid, expired, cancelled or invalid
//
// Follow every event, resuming where the last run stopped:
//
//	for ev, err := range c.Stream(ctx, lastEventID) {
//		if err != nil {
//			return err // ctx ended, or the key or cursor was refused
//		}
//		handle(ev) // de-duplicate by ev.ID if webhooks deliver it too
//		lastEventID = ev.ID
//	}
//
// Verify a webhook in your handler:
//
//	body, _ := io.ReadAll(r.Body)
//	ev, err := client.VerifyWebhook(secret, r.Header, body)
//	if err != nil {
//		http.Error(w, "bad signature", http.StatusBadRequest)
//		return
//	}
//
// The package does not hold state between runs: store the last event id
// yourself. It does not verify payment terms' JWS (use a JOSE library
// with the server's /.well-known/jwks.json) and does not speak the payor
// WebSocket.
package client
