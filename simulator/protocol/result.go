package protocol

import (
	"fmt"

	"github.com/micromdm/plist"
)

// Status is the Status key of a command result.
type Status string

// Status values a device sends.
const (
	StatusIdle               Status = "Idle"
	StatusAcknowledged       Status = "Acknowledged"
	StatusError              Status = "Error"
	StatusCommandFormatError Status = "CommandFormatError"
	StatusNotNow             Status = "NotNow"
)

// Valid reports whether s is one of Apple's status values.
func (s Status) Valid() bool {
	switch s {
	case StatusIdle, StatusAcknowledged, StatusError, StatusCommandFormatError, StatusNotNow:
		return true
	}
	return false
}

// ErrorChainItem is one entry of a result's ErrorChain.
type ErrorChainItem struct {
	ErrorCode            int    `plist:"ErrorCode"`
	ErrorDomain          string `plist:"ErrorDomain"`
	LocalizedDescription string `plist:"LocalizedDescription"`
	USEnglishDescription string `plist:"USEnglishDescription,omitempty"`
}

// Error domains and codes. CodeInvalidRequestType is what devices send for an
// unknown RequestType; CodeCommandFormat is the code the simulator puts in the
// ErrorChain of a CommandFormatError (Apple does not document one).
const (
	DomainMCMDM            = "MCMDMErrorDomain"
	CodeInvalidRequestType = 12021
	CodeCommandFormat      = 12001
)

// InvalidRequestType is the error a device returns for a RequestType it does
// not know: MCMDMErrorDomain 12021, "“X” is not a valid request type."
func InvalidRequestType(requestType string) ErrorChainItem {
	msg := fmt.Sprintf("“%s” is not a valid request type.", requestType)
	return ErrorChainItem{
		ErrorCode:            CodeInvalidRequestType,
		ErrorDomain:          DomainMCMDM,
		LocalizedDescription: msg,
		USEnglishDescription: msg,
	}
}

// Result is what a device sends on the command channel: the Idle poll, or
// the answer to one command. Fields holds the command-specific response
// keys (QueryResponses, UpdateResults, …); they are merged into the top-level
// dictionary when encoded, as Apple's format requires.
type Result struct {
	UDID         string
	EnrollmentID string
	CommandUUID  string
	Status       Status
	ErrorChain   []ErrorChainItem
	Fields       map[string]any
}

// reserved keys a command handler may not set through Fields.
var reserved = map[string]bool{"UDID": true, "EnrollmentID": true, "CommandUUID": true, "Status": true, "ErrorChain": true}

// Marshal encodes the result as an XML plist.
func (r *Result) Marshal() ([]byte, error) {
	if !r.Status.Valid() {
		return nil, fmt.Errorf("protocol: result: invalid status %q", r.Status)
	}
	if b, ok := r.marshalFast(); ok {
		return b, nil
	}
	m := make(map[string]any, len(r.Fields)+5)
	for k, v := range r.Fields {
		if reserved[k] {
			return nil, fmt.Errorf("protocol: result: field %q is reserved", k)
		}
		m[k] = v
	}
	if r.UDID != "" {
		m["UDID"] = r.UDID
	}
	if r.EnrollmentID != "" {
		m["EnrollmentID"] = r.EnrollmentID
	}
	if r.CommandUUID != "" {
		m["CommandUUID"] = r.CommandUUID
	}
	m["Status"] = string(r.Status)
	if len(r.ErrorChain) > 0 {
		m["ErrorChain"] = r.ErrorChain
	}
	b, err := plist.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("protocol: marshal result: %w", err)
	}
	return b, nil
}

// DecodeResult decodes a command result, as a server would. The
// command-specific keys land in Fields with plist's generic types.
func DecodeResult(body []byte) (*Result, error) {
	var head struct {
		UDID         string           `plist:"UDID"`
		EnrollmentID string           `plist:"EnrollmentID"`
		CommandUUID  string           `plist:"CommandUUID"`
		Status       string           `plist:"Status"`
		ErrorChain   []ErrorChainItem `plist:"ErrorChain"`
	}
	if err := safeUnmarshal(body, &head); err != nil {
		return nil, fmt.Errorf("protocol: result: %w", err)
	}
	var all map[string]any
	if err := safeUnmarshal(body, &all); err != nil {
		return nil, fmt.Errorf("protocol: result: %w", err)
	}
	r := &Result{
		UDID: head.UDID, EnrollmentID: head.EnrollmentID, CommandUUID: head.CommandUUID,
		Status: Status(head.Status), ErrorChain: head.ErrorChain,
	}
	if !r.Status.Valid() {
		return nil, fmt.Errorf("protocol: result: %w: invalid Status %q", ErrMalformed, head.Status)
	}
	for k, v := range all {
		if reserved[k] {
			continue
		}
		if r.Fields == nil {
			r.Fields = map[string]any{}
		}
		r.Fields[k] = v
	}
	return r, nil
}
