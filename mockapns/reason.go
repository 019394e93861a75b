package mockapns

import "net/http"

// The reason strings APNs puts in the JSON body of an error response, as
// Apple's "Handling notification responses from APNs" lists them and as
// clients (nanopush, sideshow/apns2) compare them.
//
// For a bad apns-push-type Apple's current table says InvalidPushType, and
// that is the string sideshow/apns2 v0.25 defines (ReasonInvalidPushType); the
// older spelling BadPushType is not used by Apple or by current clients, so
// the mock never sends it (a fault may still name it, with an explicit status).
const (
	ReasonBadCollapseID               = "BadCollapseId"
	ReasonBadDeviceToken              = "BadDeviceToken"
	ReasonBadExpirationDate           = "BadExpirationDate"
	ReasonBadMessageID                = "BadMessageId"
	ReasonBadPriority                 = "BadPriority"
	ReasonBadTopic                    = "BadTopic"
	ReasonDeviceTokenNotForTopic      = "DeviceTokenNotForTopic"
	ReasonDuplicateHeaders            = "DuplicateHeaders"
	ReasonIdleTimeout                 = "IdleTimeout"
	ReasonInvalidPushType             = "InvalidPushType"
	ReasonMissingDeviceToken          = "MissingDeviceToken"
	ReasonMissingTopic                = "MissingTopic"
	ReasonPayloadEmpty                = "PayloadEmpty"
	ReasonTopicDisallowed             = "TopicDisallowed"
	ReasonBadCertificate              = "BadCertificate"
	ReasonBadCertificateEnvironment   = "BadCertificateEnvironment"
	ReasonExpiredProviderToken        = "ExpiredProviderToken"
	ReasonForbidden                   = "Forbidden"
	ReasonInvalidProviderToken        = "InvalidProviderToken"
	ReasonMissingProviderToken        = "MissingProviderToken"
	ReasonUnrelatedKeyIDInToken       = "UnrelatedKeyIdInToken"
	ReasonBadEnvironmentKeyIDInToken  = "BadEnvironmentKeyIdInToken"
	ReasonBadPath                     = "BadPath"
	ReasonMethodNotAllowed            = "MethodNotAllowed"
	ReasonExpiredToken                = "ExpiredToken"
	ReasonUnregistered                = "Unregistered"
	ReasonPayloadTooLarge             = "PayloadTooLarge"
	ReasonTooManyProviderTokenUpdates = "TooManyProviderTokenUpdates"
	ReasonTooManyRequests             = "TooManyRequests"
	ReasonInternalServerError         = "InternalServerError"
	ReasonServiceUnavailable          = "ServiceUnavailable"
	ReasonShutdown                    = "Shutdown"
)

// MaxPayloadSize is the largest payload APNs accepts for a regular (non-VoIP)
// push; a larger one is refused with 413 PayloadTooLarge.
const MaxPayloadSize = 4096

var reasonStatus = map[string]int{
	ReasonBadCollapseID:               http.StatusBadRequest,
	ReasonBadDeviceToken:              http.StatusBadRequest,
	ReasonBadExpirationDate:           http.StatusBadRequest,
	ReasonBadMessageID:                http.StatusBadRequest,
	ReasonBadPriority:                 http.StatusBadRequest,
	ReasonBadTopic:                    http.StatusBadRequest,
	ReasonDeviceTokenNotForTopic:      http.StatusBadRequest,
	ReasonDuplicateHeaders:            http.StatusBadRequest,
	ReasonIdleTimeout:                 http.StatusBadRequest,
	ReasonInvalidPushType:             http.StatusBadRequest,
	ReasonMissingDeviceToken:          http.StatusBadRequest,
	ReasonMissingTopic:                http.StatusBadRequest,
	ReasonPayloadEmpty:                http.StatusBadRequest,
	ReasonTopicDisallowed:             http.StatusBadRequest,
	ReasonBadCertificate:              http.StatusForbidden,
	ReasonBadCertificateEnvironment:   http.StatusForbidden,
	ReasonExpiredProviderToken:        http.StatusForbidden,
	ReasonForbidden:                   http.StatusForbidden,
	ReasonInvalidProviderToken:        http.StatusForbidden,
	ReasonMissingProviderToken:        http.StatusForbidden,
	ReasonUnrelatedKeyIDInToken:       http.StatusForbidden,
	ReasonBadEnvironmentKeyIDInToken:  http.StatusForbidden,
	ReasonBadPath:                     http.StatusNotFound,
	ReasonMethodNotAllowed:            http.StatusMethodNotAllowed,
	ReasonExpiredToken:                http.StatusGone,
	ReasonUnregistered:                http.StatusGone,
	ReasonPayloadTooLarge:             http.StatusRequestEntityTooLarge,
	ReasonTooManyProviderTokenUpdates: http.StatusTooManyRequests,
	ReasonTooManyRequests:             http.StatusTooManyRequests,
	ReasonInternalServerError:         http.StatusInternalServerError,
	ReasonServiceUnavailable:          http.StatusServiceUnavailable,
	ReasonShutdown:                    http.StatusServiceUnavailable,
}

// ReasonStatus reports the HTTP status APNs answers with reason, and false for
// a reason APNs does not define.
func ReasonStatus(reason string) (status int, ok bool) {
	status, ok = reasonStatus[reason]
	return status, ok
}

// hasTimestamp reports whether APNs adds "timestamp" to an error body: only
// for 410, when it says since when the token has been invalid.
func hasTimestamp(status int) bool { return status == http.StatusGone }
