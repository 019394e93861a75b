package protocol

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
)

// SCEPKeySource supplies the RSA key of a device's SCEP enrollment instead
// of generating one (about 60 ms of CPU for RSA-2048): for tests and
// benchmarks that are not about key generation (simulator/keypool). It is
// given the device's UDID and the payload's Keysize and must return a key
// of that size; it is called from many devices at once.
type SCEPKeySource func(udid string, bits int) (*rsa.PrivateKey, error)

// key is the enrollment's key: the device's source's, or a new one as a
// real device makes.
func (d SCEPDevice) key(bits int) (*rsa.PrivateKey, error) {
	if d.Keys == nil {
		return rsa.GenerateKey(rand.Reader, bits)
	}
	k, err := d.Keys(d.UDID, bits)
	if err != nil {
		return nil, err
	}
	if k == nil || k.N == nil || k.N.BitLen() != bits {
		return nil, fmt.Errorf("the key source gave no %d-bit key", bits)
	}
	return k, nil
}
