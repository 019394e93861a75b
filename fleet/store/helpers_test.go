package store_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/micromdm/plist"
	"github.com/smallstep/pkcs7"

	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// server is a minimal MDM server for the tests, kept apart from the
// simulator: it records every device's enrollments by UDID with the
// certificate of its Mdm-Signature, and answers an Idle only from a
// device it holds, signed with the certificate it enrolled with.
type server struct {
	mu      sync.Mutex
	devices map[string]*serverDevice
	delay   time.Duration // slows each TokenUpdate
	// holdAfter, when set, holds every TokenUpdate after that many until
	// hold is closed: a kill lands mid-run however fast the child is.
	holdAfter int
	hold      chan struct{}
	passed    atomic.Int64
}

type serverDevice struct {
	authenticates int
	token         []byte
	cert          []byte
	idles         int
	badIdles      int
}

func newServer() *server { return &server{devices: map[string]*serverDevice{}} }

type message struct {
	MessageType string
	UDID        string
	Token       []byte
	Status      string
}

func signerCert(r *http.Request) []byte {
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get("Mdm-Signature"))
	if err != nil {
		return nil
	}
	p7, err := pkcs7.Parse(sig)
	if err != nil || len(p7.Certificates) == 0 {
		return nil
	}
	return p7.Certificates[0].Raw
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	var m message
	if err := plist.Unmarshal(body, &m); err != nil || m.UDID == "" {
		http.Error(w, "bad message", http.StatusBadRequest)
		return
	}
	cert := signerCert(r)
	if cert == nil {
		http.Error(w, "no signature", http.StatusUnauthorized)
		return
	}
	if m.MessageType == "TokenUpdate" {
		if s.holdAfter > 0 && s.passed.Add(1) > int64(s.holdAfter) {
			select {
			case <-s.hold:
			case <-r.Context().Done():
				return
			}
		}
		if s.delay > 0 {
			time.Sleep(s.delay)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[m.UDID]
	switch {
	case m.MessageType == "Authenticate":
		if d == nil {
			d = &serverDevice{}
			s.devices[m.UDID] = d
		}
		d.authenticates++
		d.cert, d.token = cert, nil
	case m.MessageType == "TokenUpdate":
		if d == nil || string(d.cert) != string(cert) {
			http.Error(w, "not authenticated", http.StatusUnauthorized)
			return
		}
		d.token = m.Token
	case m.Status == "Idle":
		if d == nil || d.token == nil || string(d.cert) != string(cert) {
			if d != nil {
				d.badIdles++
			}
			http.Error(w, "unknown device", http.StatusUnauthorized)
			return
		}
		d.idles++
	}
	w.WriteHeader(http.StatusOK)
}

func profileFor(url string) *protocol.EnrollmentProfile {
	return &protocol.EnrollmentProfile{
		PayloadIdentifier: "com.example.mdm", PayloadUUID: "8E1A2B9C-0000-4000-8000-000000000001",
		MDM: protocol.MDMPayload{
			PayloadType: "com.apple.mdm", PayloadVersion: 1, PayloadIdentifier: "com.example.mdm.mdm",
			PayloadUUID: "8E1A2B9C-0000-4000-8000-000000000002", ServerURL: url, Topic: "com.apple.mgmt.External.test",
			SignMessage: true, AccessRights: 8191, IdentityCertificateUUID: "8E1A2B9C-0000-4000-8000-000000000003",
		},
	}
}

// mint returns a self-signed P-256 identity for cn: the test server
// checks the certificate is the one the device enrolled with, not its
// chain.
func mint(seed uint64) func(string) (*protocol.Credential, error) {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed, seed))
	return func(cn string) (*protocol.Credential, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), cryptoReader{})
		if err != nil {
			return nil, err
		}
		mu.Lock()
		serial := new(big.Int).SetUint64(r.Uint64())
		mu.Unlock()
		tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)}
		der, err := x509.CreateCertificate(cryptoReader{}, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return nil, err
		}
		return protocol.NewCredentialDER(der, key)
	}
}
