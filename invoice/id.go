package invoice

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"time"
)

// sortable is Crockford's base32 alphabet in lower case; its characters are in
// ASCII order, so ids sort as their creation times do.
var sortable = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns prefix + 26 URL-safe characters: 48 bits of milliseconds then
// 80 random bits. Ids of one kind sort by creation time, which cursor
// pagination relies on, and cannot be guessed.
func NewID(prefix string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	rand.Read(b[6:]) // never fails (crypto/rand)
	return prefix + sortable.EncodeToString(b[:])
}

// randomToken returns n random bytes in lower-case base32: URL-safe, easy
// to copy, and free of characters that shells or URLs treat specially.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return sortable.EncodeToString(b)
}
