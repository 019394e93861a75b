package simulator

import (
	"context"

	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// What the update engine says to the server outside the command loop: the
// bootstrap token (escrowed at the first session, fetched before an install
// on Apple silicon), the check-in after the restart, and the polls a device
// makes on its own.

// fetchBootstrapToken asks the server for the escrowed bootstrap token with
// a GetBootstrapToken check-in; nil when it has none or cannot be reached.
func (d *Device) fetchBootstrapToken() []byte {
	d.mu.Lock()
	unsupported := d.enr != nil && !d.enr.bootstrapToken
	d.mu.Unlock()
	if unsupported {
		return nil // the server does not escrow tokens: none to ask for
	}
	ctx, cancel := context.WithTimeout(d.env.ctx, protocol.DefaultTimeout)
	defer cancel()
	udid := d.UDID()
	body, err := d.checkin(ctx, &protocol.GetBootstrapToken{Enrollment: protocol.Enrollment{UDID: udid}})
	if err != nil || len(body) == 0 {
		return nil
	}
	var resp protocol.BootstrapTokenResponse
	if err := unmarshalPlist(body, &resp); err != nil || len(resp.BootstrapToken) == 0 {
		return nil
	}
	return resp.BootstrapToken
}

// checkinAfterRestart tells the server the device is back: its push token
// again, as a device does when it starts up on a new OS (U: Apple does not
// document which check-in; TokenUpdate is harmless to every server).
func (d *Device) checkinAfterRestart() {
	d.mu.Lock()
	enr := d.enr
	udid := d.id.UDID
	d.mu.Unlock()
	msg := &protocol.TokenUpdate{Enrollment: protocol.Enrollment{UDID: udid}}
	if enr != nil {
		msg.Topic, msg.Token, msg.PushMagic = enr.topic, enr.token[:], enr.pushMagic()
	}
	ctx, cancel := context.WithTimeout(d.env.ctx, protocol.DefaultTimeout)
	defer cancel()
	if _, err := d.checkin(ctx, msg); err != nil {
		d.env.logger.Debug("check-in after update", "udid", udid, "err", err)
	}
}

// checkin sends a check-in message on the device's enrollment.
func (d *Device) checkin(ctx context.Context, m protocol.CheckinMessage) ([]byte, error) {
	if hook := d.env.checkinHook; hook != nil {
		return hook(ctx, m)
	}
	enr, err := d.enrollmentSnapshot()
	if err != nil {
		return nil, err
	}
	sess := enr.transport.Session(enr.identity, enr.mode)
	defer sess.Close()
	return sess.Checkin(ctx, enr.checkInURL, m)
}

// pollServer opens a session without a push, as a device does after a
// restart or when conditions change after a NotNow.
func (d *Device) pollServer() {
	if hook := d.env.pollHook; hook != nil {
		hook()
		return
	}
	d.wake(false)
}

// conditionsChanged: a device whose last session ended on NotNow polls
// again.
func (d *Device) conditionsChanged() {
	d.mu.Lock()
	poll := d.lastNotNow
	d.mu.Unlock()
	if poll {
		d.pollServer()
	}
}

// beforeSession runs at the start of every command session: an
// Apple-silicon Mac enrolled with a server that lists the bootstrap-token
// capability escrows its token at the first one (a secure-token user logs
// in after enrollment), and under quirk
// bootstrap-token-nag a Mac that just updated asks for it again.
func (d *Device) beforeSession(ctx context.Context, enr *enrollment, sess *protocol.Session) {
	d.mu.Lock()
	escrow := d.appleSiliconMac() && enr.bootstrapToken && !d.sw.env.NoBootstrapToken && !d.sw.escrowed
	nag := enr.bootstrapToken && d.sw.more != nil && d.sw.more.tokenNag > 0
	if nag {
		d.sw.more.tokenNag--
	}
	var token []byte
	if escrow {
		token = make([]byte, 32)
		for i := range token {
			token[i] = byte(d.rng.UintN(256))
		}
		d.sw.escrowed = true
	}
	udid := d.id.UDID
	d.mu.Unlock()
	if escrow {
		if _, err := sess.Checkin(ctx, enr.checkInURL, &protocol.SetBootstrapToken{
			Enrollment: protocol.Enrollment{UDID: udid}, BootstrapToken: token,
		}); err != nil {
			d.mu.Lock()
			d.sw.escrowed = false
			d.mu.Unlock()
		}
	}
	if nag {
		_, _ = sess.Checkin(ctx, enr.checkInURL, &protocol.GetBootstrapToken{Enrollment: protocol.Enrollment{UDID: udid}})
	}
}

// BootstrapTokenEscrowed reports whether the device has sent its bootstrap
// token to the server.
func (d *Device) BootstrapTokenEscrowed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sw.escrowed
}
