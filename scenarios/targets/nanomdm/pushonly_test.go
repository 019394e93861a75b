package nanomdm

import (
	"errors"
	"testing"
)

// TestPushOnly: a 500 whose answer shows the command queued and only the
// pushes failing, per device or as a whole, is a push failure; anything
// else is the error it is.
func TestPushOnly(t *testing.T) {
	t.Parallel()
	c := &commands{t: &Target{}}
	e500 := &APIError{StatusCode: 500}
	for _, tc := range []struct {
		name string
		err  error
		res  *APIResult
		want bool
	}{
		{"every device's push", e500, &APIResult{Status: map[string]APIStatus{"a": {PushError: "x"}, "b": {PushError: "y"}}}, true},
		{"no push certificate", e500, &APIResult{PushError: "retrieving push cert for topic"}, true},
		{"one device pushed", e500, &APIResult{Status: map[string]APIStatus{"a": {PushError: "x"}, "b": {}}}, false},
		{"command not stored", e500, &APIResult{PushError: "x", CommandError: "storage"}, false},
		{"no answer", e500, nil, false},
		{"empty answer", e500, &APIResult{}, false},
		{"not a 500", &APIError{StatusCode: 401}, &APIResult{PushError: "x"}, false},
		{"not the API", errors.New("dial"), &APIResult{PushError: "x"}, false},
	} {
		if have := c.pushOnly(tc.err, tc.res); have != tc.want {
			t.Errorf("%s: have %v, want %v", tc.name, have, tc.want)
		}
	}
}
