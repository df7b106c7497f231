package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestWSStream feeds server frames to the bench's frame parser a byte at a
// time and in one piece: 7- and 16-bit lengths, a fragmented message and a
// ping between its fragments.
func TestWSStream(t *testing.T) {
	frame := func(b0 byte, payload string) []byte {
		out := []byte{b0}
		if n := len(payload); n < 126 {
			out = append(out, byte(n))
		} else {
			out = append(out, 126, byte(n>>8), byte(n))
		}
		return append(out, payload...)
	}
	long := `{"type":"event","event":{"id":"evt_x","data":"` + strings.Repeat("a", 300) + `","sequence":42}}`
	var wire []byte
	wire = append(wire, frame(0x81, `{"type":"event","event":{"sequence":7}}`)...)
	wire = append(wire, frame(0x81, long)...)
	wire = append(wire, frame(0x01, `{"type":"event","event":{"seq`)...)
	wire = append(wire, frame(0x89, "p")...)
	wire = append(wire, frame(0x80, `uence":43}}`)...)
	for _, step := range []int{1, 7, len(wire)} {
		var s wsStream
		var got []string
		for data := wire; len(data) > 0; {
			n := min(step, len(data))
			err := s.feed(bytes.Clone(data[:n]), func(op byte, payload []byte) error {
				if seq, ok := messageSequence(payload); ok {
					got = append(got, string(rune('0'+op))+":"+string(rune('0'+seq%10)))
				} else {
					got = append(got, string(rune('0'+op))+":"+string(payload))
				}
				return nil
			})
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			data = data[n:]
		}
		if want := "1:7 1:2 9:p 1:3"; strings.Join(got, " ") != want {
			t.Errorf("step %d: got %q, want %q", step, strings.Join(got, " "), want)
		}
	}
	var s wsStream
	if err := s.feed([]byte{0x81, 0x81, 0, 0, 0, 0, 'x'}, func(byte, []byte) error { return nil }); err == nil {
		t.Error("a masked server frame was accepted")
	}
}
