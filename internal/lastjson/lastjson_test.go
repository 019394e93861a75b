package lastjson_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mdmsim/mdmsim/internal/lastjson"
)

func TestRead(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"a":1}`, `{"a":1}`},
		{"  {\"a\":\n1}\n", "{\"a\":\n1}"},
		{"progress\nmore\n{\"a\":1}\n", `{"a":1}`},
		{"one line of text", "one line of text"},
	} {
		got, err := lastjson.Read(strings.NewReader(c.in), 100)
		if err != nil || string(got) != c.want {
			t.Errorf("Read(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := lastjson.Read(strings.NewReader(strings.Repeat("x", 101)), 100); !errors.Is(err, lastjson.ErrTooLarge) {
		t.Errorf("101 bytes with a bound of 100: %v", err)
	}
}
