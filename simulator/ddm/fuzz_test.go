package ddm

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzParseDeclaration: any bytes a server sends as a declaration are
// either a valid declaration or reasons, never a panic; a valid one
// honours the schema's guarantees and survives a round trip.
func FuzzParseDeclaration(f *testing.F) {
	files, _ := filepath.Glob("testdata/ddm/*/*.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"Type":"com.apple.configuration.softwareupdate.settings","Identifier":"s","ServerToken":"1","Payload":{"Deferrals":{"MajorPeriodInDays":1e400}}}`))
	f.Add([]byte(`{"Type":"","Identifier":"0","ServerToken":"","Payload":{}}`))
	f.Add([]byte(`{"Type":"com.apple.management.properties","Identifier":"p","ServerToken":"1","Payload":{"a":{"b":[null,1.5,-0]}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		decl, err := ParseDeclaration(raw)
		if err != nil {
			var de *DeclarationError
			if !errors.As(err, &de) || len(de.Reasons) == 0 || de.Reasons[0].Code == "" {
				t.Fatalf("error without reasons: %v", err)
			}
			return
		}
		if decl.Identifier == "" || len(decl.Identifier) > MaxDeclarationIDLength || len(decl.ServerToken) > MaxDeclarationIDLength ||
			!utf8.ValidString(decl.Identifier) || decl.Type == "" || decl.Payload == nil {
			t.Fatalf("accepted %+v", decl)
		}
		// Typed decoding of any accepted payload must not panic.
		_, _ = DecodePayload[SoftwareUpdateEnforcementSpecific](decl)
		_, _ = DecodePayload[SoftwareUpdateSettings](decl)
		again, err := json.Marshal(map[string]any{"Type": decl.Type, "Identifier": decl.Identifier,
			"ServerToken": decl.ServerToken, "Payload": decl.Payload})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseDeclaration(again); err != nil {
			t.Fatalf("round trip of %s: %v", again, err)
		}
	})
}

// FuzzPredicate: any predicate text parses or fails cleanly, and a parsed
// one evaluates without panicking.
func FuzzPredicate(f *testing.F) {
	for _, s := range []string{
		"@status(device.operating-system.family) == 'macOS'",
		"ANY @status(test.list) IN {'a', 1, TRUE, NIL}",
		"NOT (@property(ring) LIKE[cd] 'p*t?' OR @status(x) MATCHES '(a|b)+')",
		"@status(test.count) BETWEEN {1, 2}",
		"((((TRUEPREDICATE))))",
		"@status(a) ==[c] \"\\\"\"",
	} {
		f.Add(s)
	}
	env := mapEnv{
		status: map[string]any{"device.operating-system.family": "macOS", "test.list": []string{"a"}, "test.count": 2, "x": map[string]any{}},
		props:  map[string]any{"ring": "pilot"},
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePredicate(s)
		if err != nil {
			if !errors.Is(err, ErrPredicate) {
				t.Fatalf("error %v is not a predicate error", err)
			}
			return
		}
		p.Eval(env)
	})
}

// FuzzServerAnswers: tokens, declaration-items and status reports read from
// the network never panic, and accepted items are usable.
func FuzzServerAnswers(f *testing.F) {
	f.Add([]byte(`{"SyncTokens":{"DeclarationsToken":"abc","Timestamp":"2026-01-05T10:00:00Z"}}`))
	f.Add([]byte(`{"Declarations":{"Activations":[{"Identifier":"a","ServerToken":"1"}],"Configurations":[],"Assets":[],"Management":[]},"DeclarationsToken":"x"}`))
	f.Add([]byte(`{"StatusItems":{"device":{"operating-system":{"version":"15.0"}}},"Errors":[],"FullReport":true}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if tok, err := ParseTokens(raw); err == nil && len(tok.DeclarationsToken) > MaxTokenLength {
			t.Fatalf("accepted a token of %d bytes", len(tok.DeclarationsToken))
		}
		items, _, err := ParseDeclarationItems(raw)
		if err == nil {
			seen := map[string]bool{}
			for _, it := range items {
				if it.ID == "" || seen[it.ID] || len(it.ID) > MaxDeclarationIDLength || declarationKindOK(it.Kind) == false {
					t.Fatalf("accepted item %+v", it)
				}
				seen[it.ID] = true
			}
		}
		_ = ValidateStatusReport(raw)
	})
}

func declarationKindOK(k string) bool {
	return k == KindActivation || k == KindAsset || k == KindConfiguration || k == KindManagement
}
