package protocol_test

import (
	"errors"
	"testing"

	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// TestFieldErrorNamesTheKey: DecodePayload says which key is of the wrong
// type and what it must hold, in plist words.
func TestFieldErrorNamesTheKey(t *testing.T) {
	t.Parallel()
	type item struct {
		Name  string  `plist:"Name"`
		Count *int    `plist:"Count"`
		Ratio float64 `plist:"Ratio"`
	}
	type payload struct {
		Items []item            `plist:"Items"`
		Tags  map[string]string `plist:"Tags"`
		Blob  []byte            `plist:"Blob"`
		Flag  bool
	}
	for _, tt := range []struct {
		cmd       map[string]any
		key, want string
	}{
		{map[string]any{"Items": "x"}, "Items", "an array of dictionaries"},
		{map[string]any{"Items": []any{map[string]any{"Name": "a"}, map[string]any{"Count": "3"}}}, "Items[1].Count", "an integer"},
		{map[string]any{"Items": []any{map[string]any{"Ratio": "half"}}}, "Items[0].Ratio", "a number"},
		{map[string]any{"Tags": map[string]any{"a": "x", "b": 2}}, "Tags.b", "a string"},
		{map[string]any{"Blob": "not data"}, "Blob", "data"},
		{map[string]any{"Flag": 1}, "Flag", "a boolean"},
	} {
		body, err := protocol.NewCommand("C1", "Test", tt.cmd)
		if err != nil {
			t.Fatal(err)
		}
		c, err := protocol.DecodeCommand(body)
		if err != nil {
			t.Fatal(err)
		}
		_, err = protocol.DecodePayload[payload](c)
		var fe *protocol.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, protocol.ErrMalformed) {
			t.Errorf("%v: %v, want a FieldError wrapping ErrMalformed", tt.cmd, err)
			continue
		}
		if fe.Key != tt.key || fe.Want != tt.want {
			t.Errorf("%v: %q must be %q, want %q must be %q", tt.cmd, fe.Key, fe.Want, tt.key, tt.want)
		}
	}
}
