package protocol

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/micromdm/scep/v2/cryptoutil/x509util"
	"github.com/smallstep/scep"

	"github.com/mdmsim/mdmsim/clock"
)

// ErrSCEP wraps every failure of a SCEP enrollment.
var ErrSCEP = errors.New("scep")

// maxSCEPResponse bounds what the device reads from a SCEP server.
const maxSCEPResponse = 1 << 20

// SCEPDevice is what a SCEP payload's Subject may name of the device: the
// values of %HardwareUUID%, %SerialNumber%, %ComputerName% and
// %DeviceName%, and %ProductName%; and where its key comes from.
type SCEPDevice struct {
	UDID         string
	SerialNumber string
	DeviceName   string
	ProductName  string
	// Keys, when set, supplies the key instead of a new one.
	Keys SCEPKeySource
}

// SCEPEnroll obtains an identity from a profile's SCEP payload as a device
// does: an RSA key of the payload's size, a CSR carrying the challenge and
// the payload's subject, GetCACert, then a PKCSReq enveloped to the CA and
// signed with a throwaway self-signed certificate, whose CertRep it decrypts.
// Every failure wraps ErrSCEP; no server answer makes it panic.
func SCEPEnroll(ctx context.Context, client *http.Client, p *SCEPPayload, dev SCEPDevice) (*Identity, error) {
	c := p.PayloadContent
	bits := c.Keysize
	if bits == 0 {
		bits = 2048
	}
	if bits < 1024 || bits > 4096 {
		return nil, fmt.Errorf("%w: unsupported Keysize %d", ErrSCEP, bits)
	}
	if c.KeyType != "" && c.KeyType != "RSA" {
		return nil, fmt.Errorf("%w: unsupported Key Type %q", ErrSCEP, c.KeyType)
	}
	key, err := dev.key(bits)
	if err != nil {
		return nil, fmt.Errorf("%w: key: %w", ErrSCEP, err)
	}
	subject := scepSubject(c.Subject, dev)
	csrDER, err := x509util.CreateCertificateRequest(rand.Reader, &x509util.CertificateRequest{
		CertificateRequest: x509.CertificateRequest{Subject: subject},
		ChallengePassword:  c.Challenge,
	}, key)
	if err != nil {
		return nil, fmt.Errorf("%w: csr: %v", ErrSCEP, err)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("%w: csr: %v", ErrSCEP, err)
	}
	self, err := selfSigned(key, subject)
	if err != nil {
		return nil, err
	}

	caData, contentType, err := scepGet(ctx, client, c.URL, "GetCACert")
	if err != nil {
		return nil, err
	}
	caCerts, err := parseCACerts(caData, contentType)
	if err != nil {
		return nil, err
	}

	msg, err := scep.NewCSRRequest(csr, &scep.PKIMessage{
		MessageType:   scep.PKCSReq,
		Recipients:    caCerts,
		SignerKey:     key,
		SignerCert:    self,
		CSRReqMessage: &scep.CSRReqMessage{ChallengePassword: c.Challenge},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: PKCSReq: %v", ErrSCEP, err)
	}
	respData, err := scepPost(ctx, client, c.URL, msg.Raw)
	if err != nil {
		return nil, err
	}
	cert, err := parseCertRep(respData, caCerts, self, key)
	if err != nil {
		return nil, err
	}
	return &Identity{Certificate: cert, PrivateKey: key}, nil
}

// parseCACerts reads a GetCACert answer: a degenerate PKCS#7 of the CA and
// RA certificates, or one DER certificate.
func parseCACerts(data []byte, contentType string) (certs []*x509.Certificate, err error) {
	defer recoverSCEP("GetCACert", &err)
	if strings.HasPrefix(contentType, "application/x-x509-ca-ra-cert") {
		certs, err = scep.CACerts(data)
	} else {
		certs, err = x509.ParseCertificates(data)
	}
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("%w: GetCACert: no usable certificate (%v)", ErrSCEP, err)
	}
	return certs, nil
}

// recoverSCEP turns a panic of the PKCS#7 parsers, which index malformed
// BER without checking it, into an ErrSCEP: a SCEP server's answer is
// network input and must never crash the device.
func recoverSCEP(what string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %s: malformed answer (%v)", ErrSCEP, what, r)
	}
}

// parseCertRep reads the PKIOperation answer to a PKCSReq signed with self
// and key: a successful CertRep whose envelope holds the issued certificate.
func parseCertRep(data []byte, caCerts []*x509.Certificate, self *x509.Certificate, key *rsa.PrivateKey) (_ *x509.Certificate, err error) {
	defer recoverSCEP("CertRep", &err)
	resp, err := scep.ParsePKIMessage(data, scep.WithCACerts(caCerts))
	if err != nil {
		return nil, fmt.Errorf("%w: CertRep: %v", ErrSCEP, err)
	}
	if resp.CertRepMessage == nil {
		return nil, fmt.Errorf("%w: CertRep: not a CertRep message", ErrSCEP)
	}
	if resp.PKIStatus != scep.SUCCESS {
		return nil, fmt.Errorf("%w: CertRep: status %s, fail info %s", ErrSCEP, resp.PKIStatus, resp.FailInfo)
	}
	if err := resp.DecryptPKIEnvelope(self, key); err != nil {
		return nil, fmt.Errorf("%w: CertRep: decrypt: %v", ErrSCEP, err)
	}
	cert := resp.CertRepMessage.Certificate
	if cert == nil {
		return nil, fmt.Errorf("%w: CertRep: no certificate", ErrSCEP)
	}
	return cert, nil
}

// scepSubject turns the payload's Subject ([[["CN","%HardwareUUID%"]]]) into
// a name, expanding the variables a device expands.
func scepSubject(rdns [][][]string, id SCEPDevice) pkix.Name {
	expand := strings.NewReplacer(
		"%HardwareUUID%", id.UDID,
		"%SerialNumber%", id.SerialNumber,
		"%ComputerName%", id.DeviceName,
		"%DeviceName%", id.DeviceName,
		"%ProductName%", id.ProductName,
	)
	var name pkix.Name
	for _, rdn := range rdns {
		for _, attr := range rdn {
			if len(attr) != 2 {
				continue
			}
			v := expand.Replace(attr[1])
			switch attr[0] {
			case "CN":
				name.CommonName = v
			case "O":
				name.Organization = append(name.Organization, v)
			case "OU":
				name.OrganizationalUnit = append(name.OrganizationalUnit, v)
			case "C":
				name.Country = append(name.Country, v)
			case "L":
				name.Locality = append(name.Locality, v)
			case "ST":
				name.Province = append(name.Province, v)
			}
		}
	}
	if name.CommonName == "" {
		name.CommonName = id.UDID
	}
	return name
}

// selfSigned makes the throwaway certificate that signs the PKCSReq. Its
// validity is on the wall clock, whatever the device's clock says: the SCEP
// server checks it against real time.
func selfSigned(key *rsa.PrivateKey, subject pkix.Name) (*x509.Certificate, error) {
	now := clock.Real().Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      subject,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("%w: self-signed: %v", ErrSCEP, err)
	}
	return x509.ParseCertificate(der)
}

func scepGet(ctx context.Context, client *http.Client, base, operation string) ([]byte, string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, "", fmt.Errorf("%w: URL: %v", ErrSCEP, err)
	}
	q := u.Query()
	q.Set("operation", operation)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrSCEP, err)
	}
	return scepDo(client, req)
}

func scepPost(ctx context.Context, client *http.Client, base string, body []byte) ([]byte, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("%w: URL: %v", ErrSCEP, err)
	}
	q := u.Query()
	q.Set("operation", "PKIOperation")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSCEP, err)
	}
	req.Header.Set("Content-Type", "application/x-pki-message")
	data, _, err := scepDo(client, req)
	return data, err
}

func scepDo(client *http.Client, req *http.Request) ([]byte, string, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrSCEP, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSCEPResponse))
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrSCEP, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("%w: HTTP %d: %s", ErrSCEP, resp.StatusCode, bytes.TrimSpace(data))
	}
	return data, resp.Header.Get("Content-Type"), nil
}
