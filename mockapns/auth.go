package mockapns

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// ProviderTokenLifetime is how long APNs honours a provider token after its
// iat claim; an older one is refused with ExpiredProviderToken.
const ProviderTokenLifetime = time.Hour

// Auth methods, as recorded in Push.Auth.
const (
	AuthCertificate = "certificate"
	AuthToken       = "token"
)

type providerKey struct {
	teamID string
	pub    *ecdsa.PublicKey
}

type jwtResult struct {
	reason string // "" if the signature and key check out
	teamID string
	iat    time.Time
}

// jwtCacheSize bounds the verified-token cache. Clients reuse a token for up
// to an hour, so verifying each signature once keeps ECDSA off the hot path.
const jwtCacheSize = 4096

// AllowTopic accepts pushes for topic (a "*" suffix accepts a prefix) in
// addition to the topics already accepted.
func (s *Server) AllowTopic(topic string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.topics = append(s.topics, topic)
}

// AddProviderKey registers a token-authentication signing key: JWTs whose kid
// header is keyID and whose iss claim is teamID, signed with the private half
// of pub, are accepted.
func (s *Server) AddProviderKey(keyID, teamID string, pub *ecdsa.PublicKey) {
	if pub == nil {
		panic("mockapns: AddProviderKey with nil key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[keyID] = providerKey{teamID: teamID, pub: pub}
	clear(s.jwtCache)
}

// RemoveProviderKey revokes a key added with AddProviderKey; tokens it signed
// are then refused with InvalidProviderToken.
func (s *Server) RemoveProviderKey(keyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, keyID)
	clear(s.jwtCache)
}

// authResult is what authentication tells the push handler.
type authResult struct {
	method string
	topic  string // the certificate's topic, "" for token auth
	reason string // non-empty: refuse with it
}

// authenticate applies APNs' rules: a bearer token wins when present;
// otherwise the TLS client certificate is the credential; with neither the
// provider token is "missing".
func (s *Server) authenticate(r *http.Request, now time.Time) authResult {
	if authz := r.Header.Get("Authorization"); authz != "" {
		return authResult{method: AuthToken, reason: s.checkBearer(authz, now)}
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return authResult{reason: ReasonMissingProviderToken}
	}
	leaf := r.TLS.PeerCertificates[0]
	res := authResult{method: AuthCertificate, topic: TopicFromCertificate(leaf)}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		res.reason = ReasonBadCertificate
		return res
	}
	if s.cfg.clientCAs != nil {
		inter := x509.NewCertPool()
		for _, c := range r.TLS.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots: s.cfg.clientCAs, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil {
			res.reason = ReasonBadCertificate
			return res
		}
	}
	s.mu.Lock()
	ok := topicMatch(s.topics, res.topic)
	s.mu.Unlock()
	if !ok {
		// APNs only knows certificates Apple issued for its topics; one for
		// any other topic is not a push certificate at all.
		res.reason = ReasonBadCertificate
	}
	return res
}

// checkBearer verifies an "authorization: bearer <jwt>" header and returns
// the reason to refuse it with, or "".
func (s *Server) checkBearer(authz string, now time.Time) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(authz), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return ReasonMissingProviderToken
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return ReasonMissingProviderToken
	}
	s.mu.Lock()
	res, cached := s.jwtCache[tok]
	var keys map[string]providerKey
	if !cached {
		keys = make(map[string]providerKey, len(s.keys))
		for k, v := range s.keys {
			keys[k] = v
		}
	}
	s.mu.Unlock()
	if !cached {
		res = verifyJWT(tok, keys)
		s.mu.Lock()
		if len(s.jwtCache) >= jwtCacheSize {
			clear(s.jwtCache)
		}
		s.jwtCache[tok] = res
		s.mu.Unlock()
	}
	if res.reason != "" {
		return res.reason
	}
	if now.Sub(res.iat) > ProviderTokenLifetime {
		return ReasonExpiredProviderToken
	}
	return ""
}

var errJWT = errors.New("malformed token")

// verifyJWT checks an ES256 JWS compact serialisation: header with alg ES256
// and a known kid, claims with iss equal to the key's team and a numeric iat,
// and the raw r||s signature over header.claims.
func verifyJWT(tok string, keys map[string]providerKey) jwtResult {
	bad := jwtResult{reason: ReasonInvalidProviderToken}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return bad
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	var claims struct {
		Iss string      `json:"iss"`
		Iat json.Number `json:"iat"`
	}
	if decodeSegment(parts[0], &hdr) != nil || decodeSegment(parts[1], &claims) != nil {
		return bad
	}
	if hdr.Alg != "ES256" || hdr.Kid == "" {
		return bad
	}
	key, ok := keys[hdr.Kid]
	if !ok {
		return bad
	}
	if claims.Iss != key.teamID {
		return bad
	}
	iat, err := claims.Iat.Float64()
	if err != nil || claims.Iat == "" {
		return bad
	}
	sig, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[2], "="))
	if err != nil || len(sig) != 64 {
		return bad
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r := new(big.Int).SetBytes(sig[:32])
	sv := new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(key.pub, digest[:], r, sv) {
		return bad
	}
	sec := int64(iat)
	return jwtResult{teamID: key.teamID, iat: time.Unix(sec, int64((iat-float64(sec))*1e9))}
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return errJWT
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return errJWT
	}
	return nil
}
