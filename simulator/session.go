package simulator

import (
	"context"
	"errors"
	"fmt"

	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// maxCommandsPerSession stops a server that never sends the empty answer
// from keeping a device busy forever.
const maxCommandsPerSession = 10000

// session runs one command loop: Idle, then a result per command, until
// the server's empty 200.
func (d *Device) session(ctx context.Context) error {
	enr, err := d.enrollmentSnapshot()
	if err != nil {
		return err
	}
	select {
	case d.env.sessions <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-d.env.sessions }()

	udid := d.UDID()
	d.mu.Lock()
	d.stats.Sessions++
	d.mu.Unlock()
	sess := enr.transport.Session(enr.identity, enr.mode)
	defer sess.Close()
	d.beforeSession(ctx, enr, sess)

	res := &protocol.Result{UDID: udid, Status: protocol.StatusIdle}
	// answered is the event of the command res answers: it is emitted once
	// the answer has reached the server (or failed to), so whoever watches
	// the devices sees an answer the server already holds.
	// It is a value, not a pointer: nothing is allocated for it per
	// command.
	var (
		answered Event
		pending  bool
	)
	report := func() ([]byte, error) {
		body, err := sess.Report(ctx, enr.serverURL, res)
		if pending {
			answered.Err = err
			d.env.emit(answered)
			pending = false
		}
		return body, err
	}
	for n := 0; ; n++ {
		if n > maxCommandsPerSession {
			return d.sessionError(udid, fmt.Errorf("simulator: session: more than %d commands", maxCommandsPerSession))
		}
		body, err := report()
		if err != nil {
			return d.sessionError(udid, err)
		}
		if len(body) == 0 {
			d.mu.Lock()
			d.lastNotNow = res.Status == protocol.StatusNotNow
			d.mu.Unlock()
			return nil
		}
		start := d.env.clock.Now()
		var requestType string
		res, requestType = d.handle(ctx, enr, body)
		res.UDID = udid
		d.count(res.Status)
		answered, pending = Event{Kind: EventCommand, UDID: udid, RequestType: requestType, CommandUUID: res.CommandUUID,
			Status: res.Status, Result: res, Command: body, Duration: d.env.clock.Since(start)}, true
		if d.isOff() {
			// ShutDownDevice: the answer goes out, then the device is gone.
			if _, err := report(); err != nil {
				return d.sessionError(udid, err)
			}
			return nil
		}
	}
}

func (d *Device) sessionError(udid string, err error) error {
	d.mu.Lock()
	d.stats.SessionErrors++
	d.mu.Unlock()
	d.env.emit(Event{Kind: EventSessionError, UDID: udid, Err: err})
	return err
}

func (d *Device) count(s protocol.Status) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stats.Commands++
	switch s {
	case protocol.StatusAcknowledged:
		d.stats.Acknowledged++
	case protocol.StatusError:
		d.stats.Errors++
	case protocol.StatusNotNow:
		d.stats.NotNow++
	case protocol.StatusCommandFormatError:
		d.stats.FormatErrors++
	}
}

func (d *Device) isOff() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.unreachableLocked()
}

// handle decodes one command and runs its handler. Whatever the server sent,
// the device answers: a body it cannot decode gets CommandFormatError, an
// unknown RequestType gets Error 12021, and a handler that panics is a bug
// of the simulator reported as Error rather than a crashed fleet.
func (d *Device) handle(ctx context.Context, enr *enrollment, body []byte) (res *protocol.Result, requestType string) {
	cmd, err := protocol.DecodeCommand(body)
	if err != nil {
		return FormatError(cmd.CommandUUID, err), cmd.RequestType
	}
	defer func() {
		if r := recover(); r != nil {
			d.env.logger.Error("command handler panicked", "udid", d.UDID(), "request_type", cmd.RequestType, "panic", r)
			res = ErrorResult(protocol.ErrorChainItem{ErrorCode: 12000, ErrorDomain: protocol.DomainMCMDM,
				LocalizedDescription: fmt.Sprintf("Internal error handling %s.", cmd.RequestType)})
			res.CommandUUID = cmd.CommandUUID
		}
	}()
	h, ok := d.env.handlers.lookup(cmd.RequestType)
	if !ok || (h.Available != nil && !h.Available(d.Identity())) {
		res = ErrorResult(protocol.InvalidRequestType(cmd.RequestType))
	} else if h.AccessRight != 0 && enr.accessRights&h.AccessRight == 0 {
		res = ErrorResult(NotAuthorized(cmd.RequestType))
	} else {
		res = h.Handle(ctx, d, cmd)
		if res == nil {
			res = Acknowledged(nil)
		}
	}
	res.CommandUUID = cmd.CommandUUID
	return res, cmd.RequestType
}

// Acknowledged is a successful result with response keys.
func Acknowledged(fields map[string]any) *protocol.Result {
	return &protocol.Result{Status: protocol.StatusAcknowledged, Fields: fields}
}

// ErrorResult is a result with Status Error and an ErrorChain.
func ErrorResult(chain ...protocol.ErrorChainItem) *protocol.Result {
	return &protocol.Result{Status: protocol.StatusError, ErrorChain: chain}
}

// NotNowResult is what a device answers when it cannot run a command now.
func NotNowResult() *protocol.Result {
	return &protocol.Result{Status: protocol.StatusNotNow}
}

// FormatError is the answer to a command the device cannot decode. Its
// description is in the device's words, never the decoder's: the key of
// the wrong type and what it must hold (protocol.FieldError), a missing
// envelope key, or that the command could not be read at all. The code
// and the wording are the simulator's choice (docs/fidelity.md).
func FormatError(commandUUID string, err error) *protocol.Result {
	msg := formatErrorText(err)
	return &protocol.Result{CommandUUID: commandUUID, Status: protocol.StatusCommandFormatError,
		ErrorChain: []protocol.ErrorChainItem{{ErrorCode: protocol.CodeCommandFormat, ErrorDomain: protocol.DomainMCMDM,
			LocalizedDescription: msg, USEnglishDescription: msg}}}
}

func formatErrorText(err error) string {
	var fe *protocol.FieldError
	switch {
	case errors.As(err, &fe):
		return fe.Error()
	case errors.Is(err, protocol.ErrMissingCommandUUID):
		return "The command has no “CommandUUID”."
	case errors.Is(err, protocol.ErrMissingRequestType):
		return "The command has no “RequestType”."
	case errors.Is(err, protocol.ErrTooLarge):
		return "The command is too large."
	}
	return "The command could not be read."
}

// NotAuthorized is the error for a command the enrollment's AccessRights do
// not allow.
func NotAuthorized(requestType string) protocol.ErrorChainItem {
	msg := fmt.Sprintf("The MDM server is not authorized to perform “%s”.", requestType)
	return protocol.ErrorChainItem{ErrorCode: 12025, ErrorDomain: protocol.DomainMCMDM, LocalizedDescription: msg, USEnglishDescription: msg}
}
