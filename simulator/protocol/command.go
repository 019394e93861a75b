package protocol

import (
	"fmt"

	"github.com/micromdm/plist"
)

// MaxCommandSize bounds a command body a device accepts. Real commands are
// small; profiles and app lists are the large ones and stay well below this.
const MaxCommandSize = 8 << 20

// Command is a decoded command envelope: {CommandUUID, Command{RequestType, …}}.
// The request-specific keys stay in the raw body until a handler asks for
// them with DecodePayload, so an unknown command costs nothing to carry.
type Command struct {
	CommandUUID string
	RequestType string
	raw         []byte
}

// Raw returns the body the command was decoded from.
func (c *Command) Raw() []byte { return c.raw }

// DecodeCommand decodes a command envelope sent by a server. Every failure
// wraps ErrMalformed (or ErrTooLarge); the returned Command carries whatever
// CommandUUID could be read even on error, so the device can still answer
// CommandFormatError for the right command.
func DecodeCommand(body []byte) (*Command, error) {
	if len(body) > MaxCommandSize {
		return &Command{}, fmt.Errorf("protocol: command: %w: %d bytes", ErrTooLarge, len(body))
	}
	var env struct {
		CommandUUID string `plist:"CommandUUID"`
		Command     struct {
			RequestType string `plist:"RequestType"`
		} `plist:"Command"`
	}
	if err := safeUnmarshal(body, &env); err != nil {
		// A body whose Command dict is damaged may still carry a readable UUID.
		var uuidOnly struct {
			CommandUUID string `plist:"CommandUUID"`
		}
		_ = safeUnmarshal(body, &uuidOnly)
		return &Command{CommandUUID: uuidOnly.CommandUUID, raw: body}, fmt.Errorf("protocol: command: %w", err)
	}
	c := &Command{CommandUUID: env.CommandUUID, RequestType: env.Command.RequestType, raw: body}
	if c.CommandUUID == "" {
		return c, fmt.Errorf("protocol: command: %w: %w", ErrMalformed, ErrMissingCommandUUID)
	}
	if c.RequestType == "" {
		return c, fmt.Errorf("protocol: command %s: %w: %w", c.CommandUUID, ErrMalformed, ErrMissingRequestType)
	}
	return c, nil
}

// DecodePayload decodes the Command dictionary of c into a value of type T,
// whose fields carry plist tags named as in Apple's schema. A key of the wrong
// type is a *FieldError naming the key, which wraps ErrMalformed; any other
// failure wraps ErrMalformed too.
func DecodePayload[T any](c *Command) (T, error) {
	var env struct {
		Command T `plist:"Command"`
	}
	if err := safeUnmarshal(c.raw, &env); err != nil {
		var zero T
		if isTypeError(err) {
			if fe := fieldError[T](c.raw); fe != nil {
				return zero, fmt.Errorf("protocol: %s %s: %w", c.RequestType, c.CommandUUID, fe)
			}
		}
		return zero, fmt.Errorf("protocol: %s %s: %w", c.RequestType, c.CommandUUID, err)
	}
	return env.Command, nil
}

// NewCommand builds a command envelope, as a server would; tests and the
// reference enforcer use it. payload is a struct or map with the
// request-specific keys; RequestType is set from requestType.
func NewCommand(commandUUID, requestType string, payload map[string]any) ([]byte, error) {
	cmd := map[string]any{"RequestType": requestType}
	for k, v := range payload {
		if k == "RequestType" {
			continue
		}
		cmd[k] = v
	}
	b, err := plist.Marshal(map[string]any{"CommandUUID": commandUUID, "Command": cmd})
	if err != nil {
		return nil, fmt.Errorf("protocol: marshal %s: %w", requestType, err)
	}
	return b, nil
}
