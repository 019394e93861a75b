package protocol

import (
	"fmt"

	"github.com/micromdm/plist"
)

// Check-in MessageType values.
const (
	MessageAuthenticate          = "Authenticate"
	MessageTokenUpdate           = "TokenUpdate"
	MessageCheckOut              = "CheckOut"
	MessageUserAuthenticate      = "UserAuthenticate"
	MessageDeclarativeManagement = "DeclarativeManagement"
	MessageGetBootstrapToken     = "GetBootstrapToken"
	MessageSetBootstrapToken     = "SetBootstrapToken"
	MessageGetToken              = "GetToken"
	MessageReturnToService       = "ReturnToService"
)

// Content types of the two MDM channels.
const (
	ContentTypeCheckin = "application/x-apple-aspen-mdm-checkin"
	ContentTypeCommand = "application/x-apple-aspen-mdm"
)

// Enrollment carries the identity keys common to every check-in message.
type Enrollment struct {
	UDID         string `plist:"UDID,omitempty"`
	EnrollmentID string `plist:"EnrollmentID,omitempty"`
	UserID       string `plist:"UserID,omitempty"`
}

// CheckinMessage is implemented by every check-in message type.
type CheckinMessage interface {
	checkinMessageType() string
}

// Authenticate is the first message of an enrollment.
type Authenticate struct {
	MessageType string `plist:"MessageType"`
	Enrollment
	Topic        string `plist:"Topic"`
	SerialNumber string `plist:"SerialNumber,omitempty"`
	DeviceName   string `plist:"DeviceName,omitempty"`
	Model        string `plist:"Model,omitempty"`
	ModelName    string `plist:"ModelName,omitempty"`
	ProductName  string `plist:"ProductName,omitempty"`
	OSVersion    string `plist:"OSVersion,omitempty"`
	BuildVersion string `plist:"BuildVersion,omitempty"`
	IMEI         string `plist:"IMEI,omitempty"`
	MEID         string `plist:"MEID,omitempty"`
}

// TokenUpdate hands the server what it needs to push to the device.
type TokenUpdate struct {
	MessageType string `plist:"MessageType"`
	Enrollment
	Topic                 string `plist:"Topic"`
	Token                 []byte `plist:"Token"`
	PushMagic             string `plist:"PushMagic"`
	UnlockToken           []byte `plist:"UnlockToken,omitempty"`
	AwaitingConfiguration bool   `plist:"AwaitingConfiguration,omitempty"`
}

// CheckOut tells the server the MDM profile was removed.
type CheckOut struct {
	MessageType string `plist:"MessageType"`
	Enrollment
	Topic string `plist:"Topic"`
}

// UserAuthenticate is sent on the macOS user channel.
type UserAuthenticate struct {
	MessageType string `plist:"MessageType"`
	Enrollment
	UserShortName  string `plist:"UserShortName,omitempty"`
	UserLongName   string `plist:"UserLongName,omitempty"`
	DigestResponse string `plist:"DigestResponse,omitempty"`
}

// DeclarativeManagement is the DDM synchronisation check-in.
type DeclarativeManagement struct {
	MessageType string `plist:"MessageType"`
	Enrollment
	Endpoint string `plist:"Endpoint"`
	Data     []byte `plist:"Data,omitempty"`
}

// GetBootstrapToken asks the server for the escrowed bootstrap token.
type GetBootstrapToken struct {
	MessageType string `plist:"MessageType"`
	Enrollment
	AwaitingConfiguration bool `plist:"AwaitingConfiguration,omitempty"`
}

// SetBootstrapToken escrows (or, when empty, deletes) the bootstrap token.
type SetBootstrapToken struct {
	MessageType string `plist:"MessageType"`
	Enrollment
	BootstrapToken        []byte `plist:"BootstrapToken,omitempty"`
	AwaitingConfiguration bool   `plist:"AwaitingConfiguration,omitempty"`
}

// BootstrapTokenResponse is the server's answer to GetBootstrapToken.
type BootstrapTokenResponse struct {
	BootstrapToken []byte `plist:"BootstrapToken,omitempty"`
}

// GetToken asks the server for a token of a service type.
type GetToken struct {
	MessageType string `plist:"MessageType"`
	Enrollment
	TokenServiceType string `plist:"TokenServiceType"`
}

// ReturnToService asks for the Return to Service configuration.
type ReturnToService struct {
	MessageType string `plist:"MessageType"`
	Enrollment
}

func (*Authenticate) checkinMessageType() string          { return MessageAuthenticate }
func (*TokenUpdate) checkinMessageType() string           { return MessageTokenUpdate }
func (*CheckOut) checkinMessageType() string              { return MessageCheckOut }
func (*UserAuthenticate) checkinMessageType() string      { return MessageUserAuthenticate }
func (*DeclarativeManagement) checkinMessageType() string { return MessageDeclarativeManagement }
func (*GetBootstrapToken) checkinMessageType() string     { return MessageGetBootstrapToken }
func (*SetBootstrapToken) checkinMessageType() string     { return MessageSetBootstrapToken }
func (*GetToken) checkinMessageType() string              { return MessageGetToken }
func (*ReturnToService) checkinMessageType() string       { return MessageReturnToService }

// MarshalCheckin encodes a check-in message as an XML plist, setting its
// MessageType so a caller cannot send a message under the wrong name.
func MarshalCheckin(m CheckinMessage) ([]byte, error) {
	mt := m.checkinMessageType()
	switch v := m.(type) {
	case *Authenticate:
		v.MessageType = mt
	case *TokenUpdate:
		v.MessageType = mt
	case *CheckOut:
		v.MessageType = mt
	case *UserAuthenticate:
		v.MessageType = mt
	case *DeclarativeManagement:
		v.MessageType = mt
	case *GetBootstrapToken:
		v.MessageType = mt
	case *SetBootstrapToken:
		v.MessageType = mt
	case *GetToken:
		v.MessageType = mt
	case *ReturnToService:
		v.MessageType = mt
	}
	if b, ok := marshalCheckinFast(m); ok {
		return b, nil
	}
	b, err := plist.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("protocol: marshal %s: %w", mt, err)
	}
	return b, nil
}

// CheckinMessageType reads only the MessageType of a check-in body.
func CheckinMessageType(body []byte) (string, error) {
	var probe struct {
		MessageType string `plist:"MessageType"`
	}
	if err := safeUnmarshal(body, &probe); err != nil {
		return "", fmt.Errorf("protocol: check-in: %w", err)
	}
	if probe.MessageType == "" {
		return "", fmt.Errorf("protocol: check-in: %w", ErrMissingMessageType)
	}
	return probe.MessageType, nil
}

// UnmarshalCheckin decodes a check-in body into its typed message.
func UnmarshalCheckin(body []byte) (CheckinMessage, error) {
	mt, err := CheckinMessageType(body)
	if err != nil {
		return nil, err
	}
	var m CheckinMessage
	switch mt {
	case MessageAuthenticate:
		m = new(Authenticate)
	case MessageTokenUpdate:
		m = new(TokenUpdate)
	case MessageCheckOut:
		m = new(CheckOut)
	case MessageUserAuthenticate:
		m = new(UserAuthenticate)
	case MessageDeclarativeManagement:
		m = new(DeclarativeManagement)
	case MessageGetBootstrapToken:
		m = new(GetBootstrapToken)
	case MessageSetBootstrapToken:
		m = new(SetBootstrapToken)
	case MessageGetToken:
		m = new(GetToken)
	case MessageReturnToService:
		m = new(ReturnToService)
	default:
		return nil, fmt.Errorf("protocol: check-in %q: %w", mt, ErrUnknownMessageType)
	}
	if err := safeUnmarshal(body, m); err != nil {
		return nil, fmt.Errorf("protocol: check-in %s: %w", mt, err)
	}
	return m, nil
}
