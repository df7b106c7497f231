package fiat

import (
	"strings"
	"testing"

	moov "github.com/moov-io/iso20022/pkg/document"
)

// TestPain013ValidatesWithMoov checks the request for payment with an
// independent implementation of the schema (moov-io/iso20022, used in tests
// only): it must parse as pain.013.001.07 and pass its code-list and
// cardinality validation, and a broken copy must not.
func TestPain013ValidatesWithMoov(t *testing.T) {
	t.Parallel()
	out, err := BuildPain013(paymentRequest())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := moov.ParseIso20022Document(out)
	if err != nil {
		t.Fatalf("moov parse: %v", err)
	}
	if doc.NameSpace() != Pain013Namespace {
		t.Errorf("namespace = %s", doc.NameSpace())
	}
	if err := doc.Validate(); err != nil {
		t.Errorf("moov validate: %v\n%s", err, out)
	}
	broken := strings.Replace(string(out), "<ChrgBr>SLEV</ChrgBr>", "<ChrgBr>XXXX</ChrgBr>", 1)
	if bad, err := moov.ParseIso20022Document([]byte(broken)); err == nil && bad.Validate() == nil {
		t.Error("moov accepted a charge bearer outside its code list: the check is not checking")
	}
}
