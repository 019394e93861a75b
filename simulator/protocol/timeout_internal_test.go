package protocol

import (
	"testing"
	"time"
)

// TestWithTimeoutCoversTheHandshake: a long exchange timeout (a world on
// a discrete-event clock) is not cut short by the handshake's default.
func TestWithTimeoutCoversTheHandshake(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		opt                 []TransportOption
		exchange, handshake time.Duration
	}{
		{nil, DefaultTimeout, defaultHandshakeTimeout},
		{[]TransportOption{WithTimeout(5 * time.Minute)}, 5 * time.Minute, 5 * time.Minute},
		{[]TransportOption{WithTimeout(time.Second)}, time.Second, time.Second},
		{[]TransportOption{WithTimeout(0)}, DefaultTimeout, defaultHandshakeTimeout},
	} {
		tr := NewTransport(tt.opt...)
		if tr.shared.Timeout != tt.exchange || tr.base.TLSHandshakeTimeout != tt.handshake {
			t.Errorf("exchange %v, handshake %v; want %v and %v", tr.shared.Timeout, tr.base.TLSHandshakeTimeout, tt.exchange, tt.handshake)
		}
	}
}
