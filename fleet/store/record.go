package store

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"

	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// record is a device as stored. Schema 2 added Update, DDMDeclarations
// and the DDM fields beyond Token and Stats: a schema 1 record is a
// schema 2 record without them.
type record struct {
	Identity   map[string]json.RawMessage `json:"identity"`
	Enrollment *enrollmentRecord          `json:"enrollment,omitempty"`
	Stats      simulator.Stats            `json:"stats"`
	Restarts   int                        `json:"restarts,omitempty"`
	RNG        []byte                     `json:"rng"`
	Escrowed   bool                       `json:"escrowed,omitempty"`
	History    []simulator.UpdateRecord   `json:"history,omitempty"`
	DDM        *simulator.DDMSavedState   `json:"ddm,omitempty"`
	Update     *simulator.UpdateJobState  `json:"update,omitempty"`
	// DDMDeclarations are the keys of DDM.Declarations in the
	// declarations bucket.
	DDMDeclarations []string `json:"ddm_declarations,omitempty"`
}

type enrollmentRecord struct {
	// Profile is the key of the profile in the profiles bucket.
	Profile     string   `json:"profile"`
	Certificate []byte   `json:"certificate"`
	Key         []byte   `json:"key"` // PKCS #8
	Token       [32]byte `json:"token"`
	MagicHi     uint64   `json:"magic_hi"`
	MagicLo     uint64   `json:"magic_lo"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// seal prefixes a payload with its CRC-32C.
func seal(payload []byte) []byte {
	out := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(out, crc32.Checksum(payload, castagnoli))
	copy(out[4:], payload)
	return out
}

// unseal checks a value's CRC-32C and returns its payload.
func unseal(v []byte) ([]byte, error) {
	if len(v) < 4 {
		return nil, fmt.Errorf("%w: record of %d bytes", ErrCorrupt, len(v))
	}
	if got, want := crc32.Checksum(v[4:], castagnoli), binary.BigEndian.Uint32(v); got != want {
		return nil, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	return v[4:], nil
}

// profileKey names a profile by the hash of its encoding.
func profileKey(payload []byte) string {
	h := sha256.Sum256(payload)
	return hex.EncodeToString(h[:16])
}

func encodeProfile(p *simulator.ProfileState) ([]byte, string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, "", err
	}
	return b, profileKey(b), nil
}

// encodeDeclaration encodes a declaration and names it by the hash.
func encodeDeclaration(sd *simulator.SavedDeclaration) ([]byte, string, error) {
	b, err := json.Marshal(sd)
	if err != nil {
		return nil, "", err
	}
	return b, profileKey(b), nil
}

// encodeDevice encodes st; profile and decl give the keys of its profile
// and of its declarations.
func encodeDevice(st simulator.DeviceState, profile func(*simulator.ProfileState) (string, error),
	decl func(*simulator.SavedDeclaration) (string, error)) ([]byte, error) {
	id, err := encodeIdentity(st.Identity)
	if err != nil {
		return nil, err
	}
	r := record{Identity: id, Stats: st.Stats, Restarts: st.Restarts, RNG: st.RNG, Escrowed: st.Escrowed, History: st.History, DDM: st.DDM, Update: st.Update}
	if e := st.Enrollment; e != nil {
		key, err := profile(e.Profile)
		if err != nil {
			return nil, err
		}
		signer, err := e.Credential.Signer()
		if err != nil {
			return nil, fmt.Errorf("key of %s: %w", st.Identity.UDID, err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(signer)
		if err != nil {
			return nil, fmt.Errorf("key of %s: %w", st.Identity.UDID, err)
		}
		r.Enrollment = &enrollmentRecord{Profile: key, Certificate: e.Credential.CertificateDER(), Key: der,
			Token: e.Token, MagicHi: e.MagicHi, MagicLo: e.MagicLo}
	}
	if st.DDM != nil {
		for _, sd := range st.DDM.Declarations {
			k, err := decl(sd)
			if err != nil {
				return nil, err
			}
			r.DDMDeclarations = append(r.DDMDeclarations, k)
		}
	}
	b, err := json.Marshal(&r)
	if err != nil {
		return nil, err
	}
	return seal(b), nil
}

// decodeDevice decodes a stored device; profiles and decls are the decoded
// profiles and declarations by key, shared.
func decodeDevice(v []byte, profiles map[string]*simulator.ProfileState, decls map[string]*simulator.SavedDeclaration) (simulator.DeviceState, error) {
	var st simulator.DeviceState
	payload, err := unseal(v)
	if err != nil {
		return st, err
	}
	var r record
	if err := json.Unmarshal(payload, &r); err != nil {
		return st, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if st.Identity, err = decodeIdentity(r.Identity); err != nil {
		return st, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	st.Stats, st.Restarts, st.RNG, st.Escrowed, st.History, st.DDM, st.Update = r.Stats, r.Restarts, r.RNG, r.Escrowed, r.History, r.DDM, r.Update
	if len(r.DDMDeclarations) > 0 {
		if st.DDM == nil {
			return st, fmt.Errorf("%w: declarations without DDM", ErrCorrupt)
		}
		st.DDM.Declarations = make([]*simulator.SavedDeclaration, len(r.DDMDeclarations))
		for i, k := range r.DDMDeclarations {
			sd, ok := decls[k]
			if !ok {
				return st, fmt.Errorf("%w: declaration %.40q missing", ErrCorrupt, k)
			}
			st.DDM.Declarations[i] = sd
		}
	}
	if e := r.Enrollment; e != nil {
		p, ok := profiles[e.Profile]
		if !ok {
			return st, fmt.Errorf("%w: profile %s missing", ErrCorrupt, e.Profile)
		}
		key, err := x509.ParsePKCS8PrivateKey(e.Key)
		if err != nil {
			return st, fmt.Errorf("%w: key: %v", ErrCorrupt, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return st, fmt.Errorf("%w: key of type %T", ErrCorrupt, key)
		}
		cred, err := protocol.NewCredentialDER(e.Certificate, signer)
		if err != nil {
			return st, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		st.Enrollment = &simulator.EnrollmentState{Profile: p, Credential: cred, Token: e.Token, MagicHi: e.MagicHi, MagicLo: e.MagicLo}
	}
	return st, nil
}
