package invoice

// Status is where an invoice stands. The allowed moves are decided in one
// place, [Next]; see DESIGN.md for the rules in prose.
type Status string

// Invoice statuses.
const (
	StatusOpen       Status = "open"       // waiting for payment
	StatusProcessing Status = "processing" // a payment is seen, not yet final
	StatusPaid       Status = "paid"       // confirmed payments cover the amount
	StatusExpired    Status = "expired"    // not covered by expires_at
	StatusCancelled  Status = "cancelled"  // cancelled by the merchant
	StatusInvalid    Status = "invalid"    // marked invalid by hand: not to be fulfilled
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusOpen, StatusProcessing, StatusPaid, StatusExpired, StatusCancelled, StatusInvalid}

func (s Status) String() string { return string(s) }

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Terminal reports whether s ends the invoice's life; only late payments and
// reversals move an invoice out of a terminal status.
func (s Status) Terminal() bool {
	return s == StatusPaid || s == StatusExpired || s == StatusCancelled || s == StatusInvalid
}

// Exception flags an invoice that needs a person's attention.
type Exception string

// Invoice exceptions.
const (
	ExceptionNone      Exception = "none"
	ExceptionUnderpaid Exception = "underpaid" // some, not all, of the amount is confirmed
	ExceptionOverpaid  Exception = "overpaid"  // more than the amount, or anything to a cancelled invoice
	ExceptionPaidLate  Exception = "paid_late" // covered only after expires_at
	ExceptionMarked    Exception = "marked"    // resolved by hand; payments no longer change it
)

// Exceptions lists every exception.
var Exceptions = []Exception{ExceptionNone, ExceptionUnderpaid, ExceptionOverpaid, ExceptionPaidLate, ExceptionMarked}

func (e Exception) String() string { return string(e) }

// PaymentStatus is where one payment stands on its network.
type PaymentStatus string

// Payment statuses.
const (
	PaymentPending   PaymentStatus = "pending"   // included, not yet final
	PaymentConfirmed PaymentStatus = "confirmed" // final at the network's depth
	PaymentReversed  PaymentStatus = "reversed"  // left the canonical chain, or returned
)

// Valid reports whether s is one of the payment statuses.
func (s PaymentStatus) Valid() bool {
	return s == PaymentPending || s == PaymentConfirmed || s == PaymentReversed
}

// Mode separates test from live objects; a key of one mode never sees the other.
type Mode string

// Modes.
const (
	ModeTest Mode = "test"
	ModeLive Mode = "live"
)

// Valid reports whether m is test or live.
func (m Mode) Valid() bool { return m == ModeTest || m == ModeLive }
