package stock

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/mdmsim/mdmsim/simulator/protocol"
)

func TestGoEnvDropsTestSettings(t *testing.T) {
	t.Setenv("GOFLAGS", "-race -mod=vendor")
	t.Setenv("GOOS", "plan9")
	env := goEnv("/tmp/bin")
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOFLAGS=") && kv != "GOFLAGS=" || strings.HasPrefix(kv, "GOOS=") {
			t.Errorf("go install env has %q", kv)
		}
	}
	if !slices.Contains(env, "GOBIN=/tmp/bin") {
		t.Errorf("go install env lacks GOBIN: %q", env)
	}
}

func TestFilterEnvPrefixes(t *testing.T) {
	have := filterEnv([]string{"NANOMDM_API=x", "NANOMDMX=y", "SCEP_HTTP_ADDR=:1", "HOME=/root"}, "NANOMDM_", "SCEP_")
	want := []string{"NANOMDMX=y", "HOME=/root"}
	if !slices.Equal(have, want) {
		t.Errorf("filterEnv: have %q, want %q", have, want)
	}
}

func TestPrefixWriterWholeLines(t *testing.T) {
	var b bytes.Buffer
	w := &prefixWriter{w: &b, prefix: "[x] "}
	for _, s := range []string{"one\ntw", "o\n", "three"} {
		w.Write([]byte(s))
	}
	if have, want := b.String(), "[x] one\n[x] two\n"; have != want {
		t.Errorf("have %q, want %q", have, want)
	}
}

func TestTailKeepsTheEnd(t *testing.T) {
	var tl tail
	tl.Write(bytes.Repeat([]byte("a"), tailSize))
	tl.Write([]byte("end"))
	if s := tl.String(); len(s) != tailSize || !strings.HasSuffix(s, "end") {
		t.Errorf("tail: have %d bytes ending %q", len(s), s[len(s)-3:])
	}
}

func TestEnrollmentProfileParses(t *testing.T) {
	b, err := enrollmentProfile(profileParams{
		SCEPURL: "http://127.0.0.1:1/scep", Challenge: "c", MDMURL: "http://127.0.0.1:2/mdm",
		Topic: "com.apple.mgmt.External.x", ProfileUUID: newUUID(), SCEPUUID: newUUID(), MDMUUID: newUUID(),
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := protocol.ParseProfile(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.SCEP == nil || p.SCEP.PayloadContent.Keysize != 2048 || p.MDM.AccessRights != 8191 ||
		!p.MDM.CheckOutWhenRemoved || !slices.Equal(p.MDM.ServerCapabilities, []string{"com.apple.mdm.per-user-connections"}) {
		t.Errorf("profile: %+v SCEP %+v", p.MDM, p.SCEP)
	}
	if got := p.SCEP.PayloadContent.Subject; len(got) != 2 || got[1][0][1] != "%HardwareUUID%" {
		t.Errorf("Subject: %q", got)
	}
}
