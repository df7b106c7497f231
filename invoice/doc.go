// Package invoice is settle's domain core: merchants and their API keys,
// invoices, the payments applied to them, money as integer base units, the
// status state machine, expiry, the point of sale's locations, static QR
// codes and the QR sessions their scans open (qr.go), and the store that
// keeps all of it together with the outbox of changes.
//
// It knows nothing of HTTP, chains or event transport: watchers and rails
// report through [Service.Apply], the API calls the service's methods, and
// every state change is written to the events table in the transaction that
// makes it, for the events package to deliver.
package invoice
