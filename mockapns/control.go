package mockapns

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

const controlPrefix = "/_mock/"

// maxControlBody bounds control-API request bodies.
const maxControlBody = 1 << 20

// The control API, all JSON, on the same listener as the provider API:
//
//	GET    /_mock/health                  {"ok":true,"devices":N,"streams":N}
//	GET    /_mock/ca.pem                  the CA certificate, PEM
//	GET    /_mock/faults                  [Fault...]
//	POST   /_mock/faults                  Fault: add or replace by name
//	DELETE /_mock/faults                  remove all faults
//	DELETE /_mock/faults/{name}           remove one fault (404 if absent)
//	POST   /_mock/fail-token              {"token":"<hex>","reason":"Unregistered"}
//	POST   /_mock/topics                  {"topic":"com.example.app"}
//	POST   /_mock/provider-keys           {"key_id":"…","team_id":"…","public_key":"<PEM>"}
//	DELETE /_mock/provider-keys/{key_id}
//	POST   /_mock/devices/{token}/online  {"online":false}
//	DELETE /_mock/devices/{token}         UnregisterDevice
//	GET    /_mock/pushes                  [Push...]
//	GET    /_mock/stats                   Stats
//	POST   /_mock/reset                   Reset
//	POST   /_mock/stream                  the device stream (see Dial)
//
// Errors are {"error":"…"} with 400 for bad input, 404 for an unknown path or
// name, 405 for a wrong method.
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, controlPrefix)
	first, sub, _ := strings.Cut(rest, "/")
	switch first {
	case "health":
		s.onlyMethod(w, r, http.MethodGet, func() {
			s.mu.Lock()
			st := map[string]any{"ok": true, "devices": len(s.devices), "streams": len(s.sessions)}
			s.mu.Unlock()
			writeJSON(w, http.StatusOK, st)
		})
	case "ca.pem":
		s.onlyMethod(w, r, http.MethodGet, func() {
			w.Header().Set("Content-Type", "application/x-pem-file")
			_, _ = w.Write(s.caPEM)
		})
	case "faults":
		s.controlFaults(w, r, sub)
	case "fail-token":
		s.onlyMethod(w, r, http.MethodPost, func() {
			var req struct {
				Token  string `json:"token"`
				Reason string `json:"reason"`
			}
			if !s.decode(w, r, &req) {
				return
			}
			tok, err := hex.DecodeString(req.Token)
			if err != nil || len(tok) == 0 {
				s.controlError(w, http.StatusBadRequest, fmt.Sprintf("token %q is not hex", req.Token))
				return
			}
			if err := s.FailToken(tok, req.Reason); err != nil {
				s.controlError(w, http.StatusBadRequest, err.Error())
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "fault": "token/" + hex.EncodeToString(tok)})
		})
	case "topics":
		s.onlyMethod(w, r, http.MethodPost, func() {
			var req struct {
				Topic string `json:"topic"`
			}
			if !s.decode(w, r, &req) {
				return
			}
			if strings.TrimSpace(req.Topic) == "" {
				s.controlError(w, http.StatusBadRequest, "topic must not be empty")
				return
			}
			s.AllowTopic(req.Topic)
			writeJSON(w, http.StatusOK, map[string]any{"ok": true})
		})
	case "provider-keys":
		s.controlKeys(w, r, sub)
	case "devices":
		s.controlDevices(w, r, sub)
	case "pushes":
		s.onlyMethod(w, r, http.MethodGet, func() { writeJSON(w, http.StatusOK, s.Pushes()) })
	case "stats":
		s.onlyMethod(w, r, http.MethodGet, func() { writeJSON(w, http.StatusOK, s.Stats()) })
	case "reset":
		s.onlyMethod(w, r, http.MethodPost, func() {
			s.Reset()
			writeJSON(w, http.StatusOK, map[string]any{"ok": true})
		})
	case "stream":
		s.onlyMethod(w, r, http.MethodPost, func() { s.serveStream(w, r) })
	default:
		s.controlError(w, http.StatusNotFound, fmt.Sprintf("no control endpoint %s", r.URL.Path))
	}
}

func (s *Server) controlFaults(w http.ResponseWriter, r *http.Request, name string) {
	if name != "" {
		s.onlyMethod(w, r, http.MethodDelete, func() {
			if !s.RemoveFault(name) {
				s.controlError(w, http.StatusNotFound, fmt.Sprintf("no fault named %q", name))
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"ok": true})
		})
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.Faults())
	case http.MethodPost, http.MethodPut:
		var f Fault
		if !s.decode(w, r, &f) {
			return
		}
		if err := s.AddFault(f); err != nil {
			s.controlError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, f)
	case http.MethodDelete:
		s.ClearFaults()
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	default:
		s.methodNotAllowed(w, r, "GET, POST, DELETE")
	}
}

func (s *Server) controlKeys(w http.ResponseWriter, r *http.Request, kid string) {
	if kid != "" {
		s.onlyMethod(w, r, http.MethodDelete, func() {
			s.RemoveProviderKey(kid)
			writeJSON(w, http.StatusOK, map[string]any{"ok": true})
		})
		return
	}
	s.onlyMethod(w, r, http.MethodPost, func() {
		var req struct {
			KeyID     string `json:"key_id"`
			TeamID    string `json:"team_id"`
			PublicKey string `json:"public_key"`
		}
		if !s.decode(w, r, &req) {
			return
		}
		if req.KeyID == "" || req.TeamID == "" {
			s.controlError(w, http.StatusBadRequest, "key_id and team_id are required")
			return
		}
		pub, err := parseECPublicKeyPEM([]byte(req.PublicKey))
		if err != nil {
			s.controlError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.AddProviderKey(req.KeyID, req.TeamID, pub)
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
}

func (s *Server) controlDevices(w http.ResponseWriter, r *http.Request, sub string) {
	tokHex, action, _ := strings.Cut(sub, "/")
	tok, err := hex.DecodeString(tokHex)
	if err != nil || len(tok) == 0 {
		s.controlError(w, http.StatusBadRequest, fmt.Sprintf("device token %q is not hex", tokHex))
		return
	}
	switch action {
	case "":
		s.onlyMethod(w, r, http.MethodDelete, func() {
			s.UnregisterDevice(tok)
			writeJSON(w, http.StatusOK, map[string]any{"ok": true})
		})
	case "online":
		s.onlyMethod(w, r, http.MethodPost, func() {
			var req struct {
				Online *bool `json:"online"`
			}
			if !s.decode(w, r, &req) {
				return
			}
			if req.Online == nil {
				s.controlError(w, http.StatusBadRequest, `body needs "online": true or false`)
				return
			}
			s.SetOnline(tok, *req.Online)
			writeJSON(w, http.StatusOK, map[string]any{"ok": true})
		})
	default:
		s.controlError(w, http.StatusNotFound, fmt.Sprintf("no control endpoint %s", r.URL.Path))
	}
}

// parseECPublicKeyPEM reads an ECDSA public key from a PEM "PUBLIC KEY"
// block, or derives it from a PKCS#8 "PRIVATE KEY" block such as the .p8 file
// Apple issues for token authentication.
func parseECPublicKeyPEM(b []byte) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("public_key is not PEM")
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "PRIVATE KEY":
		var priv any
		if priv, err = x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			if ec, ok := priv.(*ecdsa.PrivateKey); ok {
				key = &ec.PublicKey
			}
		}
	default:
		return nil, fmt.Errorf("PEM block %q is neither PUBLIC KEY nor PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse key: %v", err)
	}
	pub, ok := key.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("key is not an ECDSA (P-256) key")
	}
	return pub, nil
}

func (s *Server) onlyMethod(w http.ResponseWriter, r *http.Request, method string, f func()) {
	if r.Method != method {
		s.methodNotAllowed(w, r, method)
		return
	}
	f()
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	s.controlError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: method not allowed (want %s)", r.Method, r.URL.Path, allow))
}

// decode reads a JSON body into v, answering 400 itself on failure.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxControlBody+1))
	if err != nil {
		s.controlError(w, http.StatusBadRequest, "read body: "+err.Error())
		return false
	}
	if len(b) > maxControlBody {
		s.controlError(w, http.StatusBadRequest, fmt.Sprintf("body larger than %d bytes", maxControlBody))
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		s.controlError(w, http.StatusBadRequest, "bad JSON body: "+err.Error())
		return false
	}
	if dec.More() {
		s.controlError(w, http.StatusBadRequest, "bad JSON body: more than one value")
		return false
	}
	return true
}

func (s *Server) controlError(w http.ResponseWriter, status int, msg string) {
	s.logf("mockapns: control: %d %s", status, msg)
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = fmt.Appendf(nil, `{"error":%q}`, err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
