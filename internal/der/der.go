// Package der writes the headers of DER (ASN.1) values: the project's
// certificates and CMS signatures are written directly, in one pass into
// a buffer of their exact size, and need nothing more.
package der

// Tags used by the callers.
const (
	TagInteger     = 0x02
	TagBitString   = 0x03
	TagOctetString = 0x04
	TagUTF8String  = 0x0c
	TagUTCTime     = 0x17
	TagGenTime     = 0x18
	TagSequence    = 0x30
	TagSet         = 0x31
	TagContext0    = 0xa0 // [0], constructed
	TagContext3    = 0xa3 // [3], constructed
)

// HeaderLen is the size of a tag and the length of content of n bytes
// (n < 1<<24).
func HeaderLen(n int) int {
	switch {
	case n < 0x80:
		return 2
	case n < 0x100:
		return 3
	case n < 0x10000:
		return 4
	default:
		return 5
	}
}

// AppendHeader appends a tag and the length n (n < 1<<24).
func AppendHeader(dst []byte, tag byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(dst, tag, byte(n))
	case n < 0x100:
		return append(dst, tag, 0x81, byte(n))
	case n < 0x10000:
		return append(dst, tag, 0x82, byte(n>>8), byte(n))
	default:
		return append(dst, tag, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
}
