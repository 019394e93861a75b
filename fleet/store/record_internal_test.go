package store

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// TestDeviceRecordEveryField round-trips a device state with every field
// of DeviceState set: a field added there and not stored fails here.
func TestDeviceRecordEveryField(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "d"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<32, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := protocol.NewCredentialDER(der, key)
	if err != nil {
		t.Fatal(err)
	}
	model, _ := catalog.ModelRef("Mac14,2")
	decl := &simulator.SavedDeclaration{Kind: "configuration", ID: "su", ItemToken: "e1", Body: []byte(`{"Type":"x"}`)}
	prof := &simulator.ProfileState{ServerURL: "https://mdm.example/mdm", CheckInURL: "https://mdm.example/checkin", Topic: "t",
		MutualTLS: true, AccessRights: 8191, CheckOut: true, ProfileID: "p", ProfileUUID: "u", MDMUUID: "m",
		Anchors: [][]byte{{1, 2}}, BootstrapToken: true}
	st := simulator.DeviceState{
		Identity:   identity.Identity{UDID: "U1", Model: model, OSVersion: "15.7.1"},
		Enrollment: &simulator.EnrollmentState{Profile: prof, Credential: cred, Token: [32]byte{9}, MagicHi: 1, MagicLo: 2},
		Stats:      simulator.Stats{Sessions: 1, Commands: 2, Acknowledged: 3, Errors: 4, NotNow: 5, FormatErrors: 6, SessionErrors: 7, Pushes: 8},
		Restarts:   3, RNG: []byte{1, 2, 3}, Escrowed: true,
		History: []simulator.UpdateRecord{{FromVersion: "15.7", FromBuild: "a", ToVersion: "15.7.1", ToBuild: "b", ProductKey: "k",
			Action: "InstallASAP", Reason: "r", DataLoss: true, InstalledAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}},
		DDM: &simulator.DDMSavedState{Token: "tok", Stats: simulator.DDMStats{Syncs: 1, SyncErrors: 2, Fetched: 3, Removed: 4,
			Reports: 5, FullReports: 6, ReportErrors: 7, Rejected: 8}, Synced: true, SyncAt: at(7),
			Declarations:   []*simulator.SavedDeclaration{decl, decl},
			Reported:       map[string]uint64{"device.operating-system.version": 1 << 63},
			ReportedErrors: []string{"x.y"},
			Enforcement: &simulator.EnforcementSavedState{Accepted: []string{"su\x00e1"}, CurID: "su", CurToken: "e1",
				CurDeadline: at(8), Since: at(9), ForceAt: at(10), Missed: true, Forced: true, Unusable: true, Countdown: at(11),
				Failed: true, WaitPower: true, Notifications: []time.Time{at(12)}, StepAt: at(13), NotificationsOff: true,
				FailCount: 2, FailReason: "r", FailAt: at(14), Reasons: []string{"declaration"}, ReasonID: "su",
				Pending: map[string]any{"os-version": "26.2"}}},
		Update: &simulator.UpdateJobState{Platform: catalog.MacOS, Build: "25G83", ProductKey: "k", From: "15.7.1", Major: true,
			RSR: true, Size: 1, InstallSize: 2, Action: 3, Reported: "InstallLater", MaxDeferrals: 2, HighPriority: true,
			Reason: "mdm", Phase: simulator.PhasePrepared, Since: at(1), DLStart: at(2), DLDur: time.Hour, Downloaded: true,
			Steps: [2]uint8{4, 5}, Due: [2]time.Time{at(3), at(4)}, Requested: true, Mode: 2, Authorized: true, Waiting: "night",
			Blocker: "InstallInsufficientPower", Tonight: true, DataLoss: true, DeferralsLeft: 1, Dismissals: 2, Prompts: 3,
			NextInstall: at(5), Notifications: []time.Time{at(6)}, Stuck: true},
	}
	for _, v := range []reflect.Value{reflect.ValueOf(st), reflect.ValueOf(*st.Update), reflect.ValueOf(*st.DDM),
		reflect.ValueOf(*st.DDM.Enforcement), reflect.ValueOf(*decl)} {
		for i := range v.NumField() {
			if v.Field(i).IsZero() {
				t.Fatalf("the test leaves %s.%s unset", v.Type().Name(), v.Type().Field(i).Name)
			}
		}
	}
	var key0 string
	decls := map[string]*simulator.SavedDeclaration{}
	b, err := encodeDevice(st, func(p *simulator.ProfileState) (string, error) {
		_, k, err := encodeProfile(p)
		key0 = k
		return k, err
	}, func(sd *simulator.SavedDeclaration) (string, error) {
		b, k, err := encodeDeclaration(sd)
		var back simulator.SavedDeclaration
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		decls[k] = &back
		return k, err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeDevice(b, map[string]*simulator.ProfileState{key0: prof}, decls)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Enrollment.Credential.CertificateDER()) != string(der) {
		t.Error("certificate lost")
	}
	if s, err := got.Enrollment.Credential.Signer(); err != nil || !s.Public().(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		t.Errorf("key lost: %v", err)
	}
	got.Enrollment.Credential, st.Enrollment.Credential = nil, nil
	if len(decls) != 1 || got.DDM.Declarations[0] != got.DDM.Declarations[1] {
		t.Errorf("%d declarations stored for one, decoded as %p %p", len(decls), got.DDM.Declarations[0], got.DDM.Declarations[1])
	}
	if !reflect.DeepEqual(got, st) {
		t.Errorf("round trip:\nhave %+v\nwant %+v", got, st)
	}
	// A flipped bit anywhere in the record is caught by its checksum.
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 1
		if _, err := decodeDevice(c, map[string]*simulator.ProfileState{key0: prof}, decls); err == nil {
			t.Fatalf("bit flipped at byte %d decoded without error", i)
		}
	}
}

func at(h int) time.Time { return time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC) }

// FuzzDecodeDevice: whatever a state file's record holds, decoding it
// returns a state or an error, never a panic.
func FuzzDecodeDevice(f *testing.F) {
	model, _ := catalog.ModelRef("iPhone15,2")
	prof := &simulator.ProfileState{ServerURL: "https://mdm.example/mdm"}
	_, key, _ := encodeProfile(prof)
	valid, err := encodeDevice(simulator.DeviceState{Identity: identity.Identity{UDID: "U", Model: model}, RNG: []byte{1}},
		func(*simulator.ProfileState) (string, error) { return key, nil },
		func(*simulator.SavedDeclaration) (string, error) { return "d", nil })
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(seal([]byte(`{"identity":{"UDID":"U","Model":"iPhone15,2"},"enrollment":{"profile":"` + key + `","certificate":"AA==","key":"AA=="}}`)))
	f.Add(seal([]byte(`{"identity":{"UDID":1}}`)))
	f.Add([]byte{0, 0})
	f.Add(seal([]byte(`{"identity":{"UDID":"U","Model":"iPhone15,2"},"ddm":{"Token":"t","Synced":true},"ddm_declarations":["d","e"]}`)))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeDevice(b, map[string]*simulator.ProfileState{key: prof},
			map[string]*simulator.SavedDeclaration{"d": {ID: "su"}})
		if err == nil && (st.Identity.UDID == "" || st.Identity.Model == nil) {
			t.Errorf("decoded a device without UDID or model: %+v", st)
		}
		if st, err := decodeDevice(seal(b), nil, nil); err == nil && (st.Identity.UDID == "" || st.Identity.Model == nil) {
			t.Errorf("decoded a device without UDID or model: %+v", st)
		}
	})
}
