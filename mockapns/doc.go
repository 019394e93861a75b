// Package mockapns is a mock of Apple's push notification service (APNs)
// that any MDM server's real APNs client can be pointed at. It wakes
// simulated devices when they are pushed to, records every push, and lets a
// test inject every failure APNs really produces.
//
// # Shape
//
// A Server is shaped like httptest.Server: NewServer (or NewUnstartedServer
// and Start), URL, Client, Certificate (the CA), CACertPEM and Close. It
// serves HTTP/2 over TLS from a throwaway CA (or cleartext h2c with WithH2C).
// PushClient returns a client that presents a push certificate and sends
// every request to the mock whatever host it names, which is how clients
// that hard-code https://api.push.apple.com (NanoMDM's nanopush) are pointed
// at it:
//
//	srv := mockapns.NewServer()
//	defer srv.Close()
//	factory := nanopush.NewFactory(nanopush.WithNewClient(srv.PushClient))
//
// # Provider API
//
// POST /3/device/<hex token> is answered as APNs answers it, with the status
// codes and reason strings real clients parse (see the Reason constants and
// ReasonStatus) and an apns-id on every response (the request's if it is a
// canonical UUID, else a generated one).
//
// Authentication: the TLS listener requests but does not require a client
// certificate, so both of APNs' methods work on one listener.
//
//   - Certificate: the topic is the certificate Subject's UID attribute
//     (OIDUserID). A certificate outside its validity period (on the server's
//     clock), or for a topic the server does not accept, is refused with 403
//     BadCertificate; an apns-topic header naming another topic with 400
//     BadTopic. Accepted topics default to DefaultTopicPattern
//     ("com.apple.mgmt*"); see WithTopics and AllowTopic.
//   - Token: "authorization: bearer <JWT>", ES256 with a kid header and an
//     iss claim naming the team of a key registered with AddProviderKey. A
//     bad signature, unknown key or wrong team gives 403
//     InvalidProviderToken; an iat older than an hour 403
//     ExpiredProviderToken. apns-topic is required (400 MissingTopic) and
//     must be accepted (400 TopicDisallowed).
//   - Neither: 403 MissingProviderToken.
//
// Then headers (DuplicateHeaders, BadMessageId, BadPriority: 10, 5 or 1,
// BadExpirationDate, InvalidPushType, BadCollapseId), the token
// (MissingDeviceToken, BadDeviceToken: not hex, or not WithTokenLength bytes)
// and the payload (400 PayloadEmpty, 413 PayloadTooLarge above
// MaxPayloadSize). Other paths are 404 BadPath and other methods 405
// MethodNotAllowed. Then injected faults, then the device registry: a token
// nobody registered is 400 BadDeviceToken (see WithAcceptUnknownTokens), an
// unregistered one 410 Unregistered with "timestamp" (milliseconds by
// default, see WithTimestampUnit), one registered for another topic 400
// DeviceTokenNotForTopic.
//
// The mock never sends GOAWAY on a healthy connection: it sets no idle
// timeout, and Close drops connections without one. (NanoMDM v0.9.0's push
// client dereferences a nil response on GOAWAY.) 503 Shutdown is sent as a
// response, when a fault asks for it.
//
// # Devices
//
// RegisterDevice(token, topic, pushMagic, deliver) and
// UnregisterDevice(token) are the whole device-facing API; a simulator states
// them as an interface and gets either a Server or a Remote. An accepted push
// whose payload is {"mdm":"<PushMagic>"} calls deliver on a new goroutine,
// never under the server's locks. A push with another magic is accepted (200:
// APNs does not know the magic) but not delivered, because a real device
// ignores it; it is counted as DeliveryMagicMismatch.
//
// SetOnline(token, false) takes a device off the network. APNs then stores
// one push per device (the newest wins, the older is DeliverySuperseded)
// until its apns-expiration, stores none with apns-expiration 0
// (DeliveryNotStored), and delivers what it stored when the device is back
// online unless it expired (DeliveryExpired).
//
// # Faults
//
// Faults are small named values in the manner of toxiproxy, each with an
// optional token and probability: FaultReject answers a reason (FailToken,
// Unavailable, Reject), FaultRateLimit answers 429 TooManyRequests past K
// pushes a second on the server's clock (RateLimit), FaultLatency delays
// delivery by a fixed, uniform or normal distribution (Delay), FaultDrop
// loses pushes (Drop). Install them with AddFault, RemoveFault and
// ClearFaults, or over HTTP under /_mock/ (see package
// mockapns/control for a client).
//
// # Time and randomness
//
// The mock takes its clock as two functions, WithNow and WithAfterFunc
// (defaults time.Now and time.AfterFunc), so that it depends on no other
// package of the project; pass the project clock's methods to run it on
// scaled or manual time. Every random choice (drops, latency samples,
// generated apns-ids) comes from WithSeed (default DefaultSeed), never from
// the global source.
//
// # Out of process
//
// `mdmsim apns serve` runs a Server in its own process. A fleet in another
// process calls Dial, which opens ONE HTTP/2 stream to /_mock/stream that
// carries the registrations of all its devices one way and their pushes the
// other; the returned Remote has the same RegisterDevice and UnregisterDevice
// methods (plus SetOnline, Sync and Close).
//
// # Device stream
//
// A fleet in another process uses ONE HTTP/2 stream however many devices it
// has. The client POSTs /_mock/stream and keeps both directions open (HTTP/2
// is full duplex). Its request body is newline-delimited JSON operations:
//
//	{"op":"register","token":"<hex>","topic":"com.apple.mgmt.External.…","push_magic":"…"}
//	{"op":"unregister","token":"<hex>"}
//	{"op":"online","token":"<hex>","online":false}
//	{"op":"sync","id":7}
//
// The response body is newline-delimited JSON events:
//
//	{"event":"hello","session":"<id>"}        first, once
//	{"event":"push","token":"<hex>"}          a push was delivered to a device of this stream
//	{"event":"synced","id":7}                 every operation before sync 7 has been applied
//	{"event":"error","message":"…"}           a bad operation line (the stream goes on)
//
// When the stream ends, the devices it registered stay registered but go
// offline, so pushes to them are stored as APNs stores them for a device that
// lost its connection; registering them again (a reconnect, which Remote does
// by itself) brings them back online and delivers what was stored.
//
// # Recording
//
// Pushes returns the recorded requests (time, token, topic, the headers that
// matter, payload, status, reason, apns-id, delivery state), Stats the
// counters per reason and delivery state and a push-to-delivery latency
// histogram, and Reset clears them.
package mockapns
