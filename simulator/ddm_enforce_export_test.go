package simulator

// PowerOffForTest switches a device off, as a user holding the power
// button does: it answers nothing until PowerOn.
func PowerOffForTest(d *Device) { d.PowerOff() }
