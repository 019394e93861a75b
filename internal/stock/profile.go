package stock

import (
	"crypto/rand"
	"fmt"

	"github.com/micromdm/plist"
)

// profileParams are what an enrollment profile for the stock servers needs.
type profileParams struct {
	SCEPURL, Challenge, MDMURL, Topic string
	// ProfileUUID, SCEPUUID and MDMUUID are the PayloadUUIDs.
	ProfileUUID, SCEPUUID, MDMUUID string
}

type scepContent struct {
	URL       string       `plist:"URL"`
	Name      string       `plist:"Name"`
	Challenge string       `plist:"Challenge"`
	Keysize   int          `plist:"Keysize"`
	KeyType   string       `plist:"Key Type"`
	KeyUsage  int          `plist:"Key Usage"`
	Subject   [][][]string `plist:"Subject"`
}

type scepPayload struct {
	PayloadType        string      `plist:"PayloadType"`
	PayloadVersion     int         `plist:"PayloadVersion"`
	PayloadIdentifier  string      `plist:"PayloadIdentifier"`
	PayloadUUID        string      `plist:"PayloadUUID"`
	PayloadDisplayName string      `plist:"PayloadDisplayName"`
	PayloadContent     scepContent `plist:"PayloadContent"`
}

type mdmPayload struct {
	PayloadType             string   `plist:"PayloadType"`
	PayloadVersion          int      `plist:"PayloadVersion"`
	PayloadIdentifier       string   `plist:"PayloadIdentifier"`
	PayloadUUID             string   `plist:"PayloadUUID"`
	PayloadDisplayName      string   `plist:"PayloadDisplayName"`
	ServerURL               string   `plist:"ServerURL"`
	CheckInURL              string   `plist:"CheckInURL"`
	Topic                   string   `plist:"Topic"`
	IdentityCertificateUUID string   `plist:"IdentityCertificateUUID"`
	SignMessage             bool     `plist:"SignMessage"`
	AccessRights            int      `plist:"AccessRights"`
	CheckOutWhenRemoved     bool     `plist:"CheckOutWhenRemoved"`
	ServerCapabilities      []string `plist:"ServerCapabilities"`
}

type configurationProfile struct {
	PayloadType        string `plist:"PayloadType"`
	PayloadVersion     int    `plist:"PayloadVersion"`
	PayloadIdentifier  string `plist:"PayloadIdentifier"`
	PayloadUUID        string `plist:"PayloadUUID"`
	PayloadDisplayName string `plist:"PayloadDisplayName"`
	PayloadContent     []any  `plist:"PayloadContent"`
}

// enrollmentProfile writes the unsigned enrollment profile: a SCEP payload
// for the device identity and an MDM payload that signs its messages with
// it (Mdm-Signature), which is what NanoMDM's -ca verification expects
// without a TLS-terminating proxy.
func enrollmentProfile(p profileParams) ([]byte, error) {
	const id = "com.github.mdmsim.stock"
	prof := configurationProfile{
		PayloadType:        "Configuration",
		PayloadVersion:     1,
		PayloadIdentifier:  id,
		PayloadUUID:        p.ProfileUUID,
		PayloadDisplayName: "mdmsim stock servers enrollment",
		PayloadContent: []any{
			scepPayload{
				PayloadType:        "com.apple.security.scep",
				PayloadVersion:     1,
				PayloadIdentifier:  id + ".scep",
				PayloadUUID:        p.SCEPUUID,
				PayloadDisplayName: "MDM identity",
				PayloadContent: scepContent{
					URL:       p.SCEPURL,
					Name:      "mdmsim-stock",
					Challenge: p.Challenge,
					Keysize:   2048,
					KeyType:   "RSA",
					KeyUsage:  5, // digital signature | key encipherment
					Subject: [][][]string{
						{{"O", "mdmsim"}},
						{{"CN", "%HardwareUUID%"}},
					},
				},
			},
			mdmPayload{
				PayloadType:             "com.apple.mdm",
				PayloadVersion:          1,
				PayloadIdentifier:       id + ".mdm",
				PayloadUUID:             p.MDMUUID,
				PayloadDisplayName:      "MDM",
				ServerURL:               p.MDMURL,
				CheckInURL:              p.MDMURL,
				Topic:                   p.Topic,
				IdentityCertificateUUID: p.SCEPUUID,
				SignMessage:             true,
				AccessRights:            8191,
				CheckOutWhenRemoved:     true,
				ServerCapabilities:      []string{"com.apple.mdm.per-user-connections"},
			},
		},
	}
	b, err := plist.MarshalIndent(prof, "\t")
	if err != nil {
		return nil, fmt.Errorf("stock: profile: %w", err)
	}
	return b, nil
}

// newUUID returns a random RFC 4122 version 4 UUID in Apple's upper case.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// randomToken returns n random bytes in hex, for API keys and challenges.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}
