package protocol

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/micromdm/plist"
	"github.com/smallstep/pkcs7"
)

// Payload types of an enrollment profile.
const (
	PayloadTypeConfiguration = "Configuration"
	PayloadTypeMDM           = "com.apple.mdm"
	PayloadTypeSCEP          = "com.apple.security.scep"
	PayloadTypeRoot          = "com.apple.security.root"
	PayloadTypePEM           = "com.apple.security.pem"
	PayloadTypePKCS1         = "com.apple.security.pkcs1"
)

// MaxProfileSize bounds an enrollment profile a device reads.
const MaxProfileSize = 4 << 20

// MDMPayload is the com.apple.mdm payload of an enrollment profile.
type MDMPayload struct {
	PayloadType             string   `plist:"PayloadType"`
	PayloadVersion          int      `plist:"PayloadVersion"`
	PayloadIdentifier       string   `plist:"PayloadIdentifier"`
	PayloadUUID             string   `plist:"PayloadUUID"`
	PayloadDisplayName      string   `plist:"PayloadDisplayName,omitempty"`
	ServerURL               string   `plist:"ServerURL"`
	CheckInURL              string   `plist:"CheckInURL,omitempty"`
	Topic                   string   `plist:"Topic"`
	IdentityCertificateUUID string   `plist:"IdentityCertificateUUID"`
	SignMessage             bool     `plist:"SignMessage"`
	AccessRights            int      `plist:"AccessRights"`
	CheckOutWhenRemoved     bool     `plist:"CheckOutWhenRemoved"`
	UseDevelopmentAPNS      bool     `plist:"UseDevelopmentAPNS,omitempty"`
	ServerCapabilities      []string `plist:"ServerCapabilities,omitempty"`
}

// SCEPPayloadContent is the PayloadContent of a com.apple.security.scep payload.
type SCEPPayloadContent struct {
	URL       string       `plist:"URL"`
	Name      string       `plist:"Name,omitempty"`
	Challenge string       `plist:"Challenge,omitempty"`
	Keysize   int          `plist:"Keysize,omitempty"`
	KeyType   string       `plist:"Key Type,omitempty"`
	KeyUsage  int          `plist:"Key Usage,omitempty"`
	Subject   [][][]string `plist:"Subject,omitempty"`
}

// SCEPPayload is the com.apple.security.scep payload.
type SCEPPayload struct {
	PayloadType        string             `plist:"PayloadType"`
	PayloadVersion     int                `plist:"PayloadVersion"`
	PayloadIdentifier  string             `plist:"PayloadIdentifier"`
	PayloadUUID        string             `plist:"PayloadUUID"`
	PayloadDisplayName string             `plist:"PayloadDisplayName,omitempty"`
	PayloadContent     SCEPPayloadContent `plist:"PayloadContent"`
}

// CertificatePayload is a com.apple.security.root / .pem / .pkcs1 payload.
type CertificatePayload struct {
	PayloadType        string `plist:"PayloadType"`
	PayloadVersion     int    `plist:"PayloadVersion"`
	PayloadIdentifier  string `plist:"PayloadIdentifier"`
	PayloadUUID        string `plist:"PayloadUUID"`
	PayloadDisplayName string `plist:"PayloadDisplayName,omitempty"`
	PayloadContent     []byte `plist:"PayloadContent"`
}

// EnrollmentProfile is what a device takes from an MDM enrollment profile.
type EnrollmentProfile struct {
	PayloadIdentifier string
	PayloadUUID       string
	MDM               MDMPayload
	// SCEP is the payload named by MDM.IdentityCertificateUUID, if it is a
	// SCEP payload (it may instead be a PKCS#12 the simulator does not read).
	SCEP *SCEPPayload
	// Certificates holds the DER or PEM contents of certificate payloads:
	// the anchors a device trusts for the server.
	Certificates [][]byte
	// Signed is true when the profile came wrapped in a CMS signature.
	Signed bool
}

// CheckInURL is where check-in messages go: CheckInURL, or ServerURL.
func (p *EnrollmentProfile) CheckInURL() string {
	if p.MDM.CheckInURL != "" {
		return p.MDM.CheckInURL
	}
	return p.MDM.ServerURL
}

// Errors of ParseProfile.
var (
	ErrNoMDMPayload = errors.New("profile has no com.apple.mdm payload")
	ErrBadProfile   = errors.New("invalid enrollment profile")
)

// ParseProfile reads an enrollment profile, signed (CMS) or not. The
// signature of a signed profile is checked for integrity; its signer is not
// required to chain to anything, as a device would ask its user to trust it.
func ParseProfile(data []byte) (*EnrollmentProfile, error) {
	if len(data) > MaxProfileSize {
		return nil, fmt.Errorf("protocol: profile: %w", ErrTooLarge)
	}
	out := &EnrollmentProfile{}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == 0x30 { // DER SEQUENCE: a CMS-signed profile
		p7, err := parsePKCS7(trimmed)
		if err != nil {
			return nil, fmt.Errorf("protocol: signed profile: %w: %v", ErrBadProfile, err)
		}
		if err := p7.Verify(); err != nil {
			return nil, fmt.Errorf("protocol: signed profile: %w: signature: %v", ErrBadProfile, err)
		}
		data = p7.Content
		out.Signed = true
	}
	var top struct {
		PayloadType       string           `plist:"PayloadType"`
		PayloadIdentifier string           `plist:"PayloadIdentifier"`
		PayloadUUID       string           `plist:"PayloadUUID"`
		PayloadContent    []map[string]any `plist:"PayloadContent"`
	}
	if err := safeUnmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("protocol: profile: %w", err)
	}
	if top.PayloadType != PayloadTypeConfiguration {
		return nil, fmt.Errorf("protocol: profile: %w: PayloadType %q", ErrBadProfile, top.PayloadType)
	}
	for _, s := range []string{top.PayloadIdentifier, top.PayloadUUID} {
		if err := xmlChars(s); err != nil {
			return nil, fmt.Errorf("protocol: profile: %w: %v", ErrBadProfile, err)
		}
	}
	out.PayloadIdentifier, out.PayloadUUID = top.PayloadIdentifier, top.PayloadUUID
	scep := map[string]*SCEPPayload{}
	foundMDM := false
	for i, raw := range top.PayloadContent {
		pt, _ := raw["PayloadType"].(string)
		switch pt {
		case PayloadTypeMDM, PayloadTypeSCEP, PayloadTypeRoot, PayloadTypePEM, PayloadTypePKCS1:
			// The re-encoding below is XML, as is Marshal: a string it
			// cannot hold would silently become U+FFFD.
			if err := xmlChars(raw); err != nil {
				return nil, fmt.Errorf("protocol: profile payload %d: %w: %v", i, ErrBadProfile, err)
			}
		}
		// Re-encode one payload and decode it into its typed form: simple,
		// and strict about types without hand-written checks.
		b, err := plist.Marshal(raw)
		if err != nil {
			return nil, fmt.Errorf("protocol: profile payload %d: %w", i, err)
		}
		switch pt {
		case PayloadTypeMDM:
			if foundMDM {
				return nil, fmt.Errorf("protocol: profile: %w: two MDM payloads", ErrBadProfile)
			}
			if err := safeUnmarshal(b, &out.MDM); err != nil {
				return nil, fmt.Errorf("protocol: profile MDM payload: %w", err)
			}
			foundMDM = true
		case PayloadTypeSCEP:
			var s SCEPPayload
			if err := safeUnmarshal(b, &s); err != nil {
				return nil, fmt.Errorf("protocol: profile SCEP payload: %w", err)
			}
			scep[s.PayloadUUID] = &s
		case PayloadTypeRoot, PayloadTypePEM, PayloadTypePKCS1:
			var c CertificatePayload
			if err := safeUnmarshal(b, &c); err != nil {
				return nil, fmt.Errorf("protocol: profile certificate payload: %w", err)
			}
			out.Certificates = append(out.Certificates, c.PayloadContent)
		}
	}
	if !foundMDM {
		return nil, fmt.Errorf("protocol: profile: %w", ErrNoMDMPayload)
	}
	if err := validateMDMPayload(&out.MDM); err != nil {
		return nil, err
	}
	out.SCEP = scep[out.MDM.IdentityCertificateUUID]
	return out, nil
}

func validateMDMPayload(m *MDMPayload) error {
	if !strings.HasPrefix(m.Topic, "com.apple.mgmt.") {
		return fmt.Errorf("protocol: profile: %w: Topic %q must start with com.apple.mgmt.", ErrBadProfile, m.Topic)
	}
	for name, u := range map[string]string{"ServerURL": m.ServerURL, "CheckInURL": m.CheckInURL} {
		if u == "" && name == "CheckInURL" {
			continue
		}
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return fmt.Errorf("protocol: profile: %w: %s %q", ErrBadProfile, name, u)
		}
	}
	if m.IdentityCertificateUUID == "" {
		return fmt.Errorf("protocol: profile: %w: no IdentityCertificateUUID", ErrBadProfile)
	}
	return nil
}

// xmlChars reports a string in v (a value decoded into any) that a property
// list in XML cannot hold: invalid UTF-8, or a character outside XML's Char
// range such as a control character. A binary plist can carry them.
func xmlChars(v any) error {
	switch v := v.(type) {
	case string:
		if !utf8.ValidString(v) {
			return fmt.Errorf("string %q is not UTF-8", v)
		}
		for _, r := range v {
			if !(r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF ||
				r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= utf8.MaxRune) {
				return fmt.Errorf("string %q holds %U, which XML cannot", v, r)
			}
		}
	case map[string]any:
		for k, e := range v {
			if err := xmlChars(k); err != nil {
				return err
			}
			if err := xmlChars(e); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range v {
			if err := xmlChars(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func parsePKCS7(der []byte) (p7 *pkcs7.PKCS7, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	return pkcs7.Parse(der)
}

// Marshal encodes an enrollment profile: the certificate payloads, the SCEP
// payload and the MDM payload, in that order, unsigned.
func (p *EnrollmentProfile) Marshal() ([]byte, error) {
	var content []any
	for i, c := range p.Certificates {
		content = append(content, CertificatePayload{
			PayloadType: PayloadTypeRoot, PayloadVersion: 1,
			PayloadIdentifier:  fmt.Sprintf("%s.anchor.%d", p.PayloadIdentifier, i),
			PayloadUUID:        fmt.Sprintf("%s-A%d", p.PayloadUUID, i),
			PayloadDisplayName: "MDM server anchor", PayloadContent: c,
		})
	}
	if p.SCEP != nil {
		content = append(content, *p.SCEP)
	}
	content = append(content, p.MDM)
	b, err := plist.MarshalIndent(map[string]any{
		"PayloadType":        PayloadTypeConfiguration,
		"PayloadVersion":     1,
		"PayloadIdentifier":  p.PayloadIdentifier,
		"PayloadUUID":        p.PayloadUUID,
		"PayloadDisplayName": "MDM enrollment",
		"PayloadContent":     content,
	}, "\t")
	if err != nil {
		return nil, fmt.Errorf("protocol: marshal profile: %w", err)
	}
	return b, nil
}

// Anchors returns the certificates of the profile's certificate payloads,
// DER or PEM (several blocks allowed): what a device trusts, besides the
// system roots, for the server's TLS. Payloads that hold no certificate
// are left out.
func (p *EnrollmentProfile) Anchors() []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range p.Certificates {
		if cert, err := x509.ParseCertificate(c); err == nil {
			out = append(out, cert)
			continue
		}
		for rest := c; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if cert, err := x509.ParseCertificate(b.Bytes); err == nil {
				out = append(out, cert)
			}
		}
	}
	return out
}

// FetchProfile downloads an enrollment profile's bytes from url, as a
// user opening the server's enrollment link does: at most MaxProfileSize,
// and only from a 200.
func FetchProfile(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("protocol: fetch profile: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("protocol: fetch profile: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxProfileSize+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("protocol: fetch profile: %s: %w", url, err)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("protocol: fetch profile: %s: HTTP %d", url, resp.StatusCode)
	case len(data) > MaxProfileSize:
		return nil, fmt.Errorf("protocol: fetch profile: %s: %w: larger than %d bytes", url, ErrTooLarge, MaxProfileSize)
	}
	return data, nil
}
