package der_test

import (
	"bytes"
	"encoding/asn1"
	"testing"

	"github.com/mdmsim/mdmsim/internal/der"
)

// Headers agree with encoding/asn1 at every length boundary.
func TestHeader(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x12345} {
		content := bytes.Repeat([]byte{1}, n)
		want, err := asn1.Marshal(content) // an OCTET STRING
		if err != nil {
			t.Fatal(err)
		}
		have := append(der.AppendHeader(nil, der.TagOctetString, n), content...)
		if !bytes.Equal(have, want) || der.HeaderLen(n) != len(want)-n {
			t.Errorf("n=%d: header % x (len %d), want % x", n, have[:der.HeaderLen(n)], der.HeaderLen(n), want[:len(want)-n])
		}
	}
}
