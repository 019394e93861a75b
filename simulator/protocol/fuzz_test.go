package protocol_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mdmsim/mdmsim/simulator/protocol"
)

func addSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.plist"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<plist><dict><key>CommandUUID</key><integer>5</integer><key>Command</key><array/></dict></plist>`))
	f.Add([]byte("bplist00\xd1\x01\x02"))
	f.Add([]byte(`<plist><dict><key>Command</key><dict><key>RequestType</key><data>!!!</data></dict></dict></plist>`))
}

// FuzzDecodeCommand checks that no server input makes a device panic, and
// that a decoded command always has the keys DecodeCommand promises.
func FuzzDecodeCommand(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := protocol.DecodeCommand(body)
		if c == nil {
			t.Fatal("nil command")
		}
		if err == nil && (c.CommandUUID == "" || c.RequestType == "") {
			t.Fatalf("accepted a command without UUID or RequestType: %+v", c)
		}
		if err == nil {
			_, _ = protocol.DecodePayload[struct {
				Queries []string `plist:"Queries"`
				Updates []struct {
					ProductKey    string `plist:"ProductKey"`
					InstallAction string `plist:"InstallAction"`
				} `plist:"Updates"`
				Data []byte `plist:"Data"`
			}](c)
		}
	})
}

// FuzzUnmarshalCheckin does the same for check-in bodies, which the
// reference stack parses.
func FuzzUnmarshalCheckin(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = protocol.UnmarshalCheckin(body)
		_, _ = protocol.DecodeResult(body)
	})
}
