package mockapns

import (
	"encoding/hex"
	"time"
)

// device is one registered device token.
type device struct {
	token   string
	topic   string
	magic   string
	deliver func()
	owner   *session // the stream that registered it; nil in-process
	online  bool
	pending *record // the one push APNs stores for an offline device
}

// goneToken remembers when a token was unregistered, for 410 timestamps.
type goneToken struct {
	at    time.Time
	topic string
}

// RegisterDevice registers a device token for topic: pushes to it are
// accepted and, if their payload carries pushMagic as {"mdm": ...} (or
// pushMagic is empty), delivered by calling deliver on a new goroutine,
// possibly concurrently with other calls. The device starts online.
//
// Registering a token again replaces its topic, magic and deliver func and
// brings it online; a push stored while it was offline is delivered then
// unless the topic changed.
//
// Together with UnregisterDevice this is the whole device-facing API, so
// a simulator that states it as an interface can use a Server in process or
// a Remote (see Dial) alike.
func (s *Server) RegisterDevice(token []byte, topic, pushMagic string, deliver func()) {
	if deliver == nil {
		panic("mockapns: RegisterDevice with nil deliver")
	}
	s.register(hex.EncodeToString(token), topic, pushMagic, deliver, nil)
}

func (s *Server) register(tok, topic, magic string, deliver func(), owner *session) {
	s.mu.Lock()
	now := s.cfg.now()
	dev := s.devices[tok]
	if dev == nil {
		dev = &device{token: tok}
		s.devices[tok] = dev
	}
	if dev.pending != nil && dev.topic != topic {
		s.rec.transition(dev.pending, DeliveryNoDevice, now)
		dev.pending = nil
	}
	dev.topic, dev.magic, dev.deliver, dev.owner = topic, magic, deliver, owner
	delete(s.gone, tok)
	fn := s.setOnlineLocked(dev, true, now)
	s.mu.Unlock()
	s.deliverAsync(fn)
}

// UnregisterDevice removes a device token. Later pushes to it are answered
// 410 Unregistered, with the time of this call as "timestamp", as APNs does
// for a token whose app (here: MDM enrollment) went away.
func (s *Server) UnregisterDevice(token []byte) {
	s.unregister(hex.EncodeToString(token), nil)
}

// unregister removes tok; with owner set, only if that stream registered it.
func (s *Server) unregister(tok string, owner *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dev := s.devices[tok]
	if dev == nil || (owner != nil && dev.owner != owner) {
		return
	}
	now := s.cfg.now()
	if dev.pending != nil {
		s.rec.transition(dev.pending, DeliveryNoDevice, now)
	}
	delete(s.devices, tok)
	s.gone[tok] = goneToken{at: now, topic: dev.topic}
}

// SetOnline takes a registered device off or back on the network. While
// offline, APNs stores one push per device (the newest wins) until its
// apns-expiration, and does not store pushes with apns-expiration 0; coming
// online delivers the stored push if it has not expired.
func (s *Server) SetOnline(token []byte, online bool) {
	s.setOnline(hex.EncodeToString(token), online, nil)
}

func (s *Server) setOnline(tok string, online bool, owner *session) {
	s.mu.Lock()
	dev := s.devices[tok]
	var fn func()
	if dev != nil && (owner == nil || dev.owner == owner) {
		fn = s.setOnlineLocked(dev, online, s.cfg.now())
	}
	s.mu.Unlock()
	s.deliverAsync(fn)
}

// deliverAsync calls a device's deliver func on its own goroutine, holding
// a unit of the delivery work (WithWork) from now until it returns, so a
// discrete-event clock does not move between a push's acceptance and the
// device waking up.
func (s *Server) deliverAsync(fn func()) {
	if fn == nil {
		return
	}
	s.cfg.work.Begin()
	go func() {
		defer s.cfg.work.End()
		fn()
	}()
}

// setOnlineLocked returns the deliver func to call (outside the lock) for a
// stored push, or nil.
func (s *Server) setOnlineLocked(dev *device, online bool, now time.Time) func() {
	dev.online = online
	if !online || dev.pending == nil {
		return nil
	}
	p := dev.pending
	dev.pending = nil
	if !p.expires.IsZero() && now.After(p.expires) {
		s.rec.transition(p, DeliveryExpired, now)
		return nil
	}
	s.rec.transition(p, DeliveryDelivered, now)
	return dev.deliver
}

// Devices returns how many device tokens are registered.
func (s *Server) Devices() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.devices)
}

// arriveLocked hands an accepted push to its device: delivered if online,
// stored (or not) if offline. It returns the deliver func to call outside the
// lock, or nil.
func (s *Server) arriveLocked(rec *record, now time.Time) func() {
	dev := s.devices[rec.Token]
	switch {
	case dev == nil:
		s.rec.transition(rec, DeliveryNoDevice, now)
		return nil
	case dev.online:
		s.rec.transition(rec, DeliveryDelivered, now)
		return dev.deliver
	case rec.noStorage:
		s.rec.transition(rec, DeliveryNotStored, now)
		return nil
	case !rec.expires.IsZero() && now.After(rec.expires):
		s.rec.transition(rec, DeliveryExpired, now)
		return nil
	}
	if dev.pending != nil {
		s.rec.transition(dev.pending, DeliverySuperseded, now)
	}
	dev.pending = rec
	s.rec.transition(rec, DeliveryPending, now)
	return nil
}

// arriveLater is the end of a delivery latency.
func (s *Server) arriveLater(rec *record) {
	if s.closed.Load() {
		return
	}
	s.mu.Lock()
	fn := s.arriveLocked(rec, s.cfg.now())
	s.mu.Unlock()
	s.deliverAsync(fn)
}
