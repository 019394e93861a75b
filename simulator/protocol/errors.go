package protocol

import (
	"errors"
	"fmt"

	"github.com/micromdm/plist"
)

// Sentinel errors. Decoding errors wrap ErrMalformed so a device can answer
// CommandFormatError for all of them with one errors.Is.
var (
	ErrMalformed          = errors.New("malformed plist")
	ErrMissingMessageType = errors.New("missing MessageType")
	ErrUnknownMessageType = errors.New("unknown MessageType")
	ErrMissingRequestType = errors.New("missing RequestType")
	ErrMissingCommandUUID = errors.New("missing CommandUUID")
	ErrTooLarge           = errors.New("body too large")
)

// safeUnmarshal decodes a plist and turns every failure of the decoder,
// including a panic inside it, into an error wrapping ErrMalformed: a
// server's bytes must never crash a device.
func safeUnmarshal(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: decoder panic: %v", ErrMalformed, r)
		}
	}()
	if len(data) == 0 {
		return fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if err := plist.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}
