package invoice

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"sync"
	"time"
)

// sortable is Crockford's base32 alphabet in lower case; its characters are in
// ASCII order, so ids sort as their creation times do.
var sortable = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns prefix + 26 URL-safe characters: 48 bits of milliseconds then
// 80 random bits. Ids of one kind sort by creation time, which cursor
// pagination relies on, and cannot be guessed. Within one process they
// strictly increase: an id in the same millisecond as the one before (or
// with a clock that went back) is the one before plus a random step, as
// monotonic ULIDs are.
func NewID(prefix string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	rand.Read(b[6:]) // never fails (crypto/rand)
	lastID.Lock()
	if bytes.Compare(b[:6], lastID.b[:6]) <= 0 {
		var step [4]byte
		rand.Read(step[:])
		b = lastID.b
		lo := binary.BigEndian.Uint64(b[8:])
		sum := lo + uint64(binary.BigEndian.Uint32(step[:])) + 1
		binary.BigEndian.PutUint64(b[8:], sum)
		if sum < lo { // carry into the upper random bits
			binary.BigEndian.PutUint16(b[6:8], binary.BigEndian.Uint16(b[6:8])+1)
		}
	}
	lastID.b = b
	lastID.Unlock()
	return prefix + sortable.EncodeToString(b[:])
}

var lastID struct {
	sync.Mutex
	b [16]byte
}

// randomToken returns n random bytes in lower-case base32: URL-safe, easy
// to copy, and free of characters that shells or URLs treat specially.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return sortable.EncodeToString(b)
}
