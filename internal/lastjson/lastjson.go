// Package lastjson reads the JSON document a command left as the last line
// of its output (`mdmsim run --json`, `mdmsim bench --json`), or a file of
// that document alone, with a bound on what it reads.
package lastjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrTooLarge is the error of a body larger than the bound.
var ErrTooLarge = errors.New("larger than allowed")

// Read reads at most max bytes of r and returns its JSON document: the
// whole text when it is JSON, else its last line.
func Read(r io.Reader, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	}
	return Line(data), nil
}

// Line is the JSON document of a command's output: the whole text if it is
// JSON, else its last line.
func Line(data []byte) []byte {
	text := bytes.TrimSpace(data)
	if i := bytes.LastIndexByte(text, '\n'); i >= 0 && !json.Valid(text) {
		return text[i+1:]
	}
	return text
}
