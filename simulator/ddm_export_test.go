package simulator

// SetOSForTest changes the device's OS, as the update engine does when an
// update installs, so DDM tests can check what the status items report.
func SetOSForTest(d *Device, version, build, supplementalBuild, extra string) {
	d.mu.Lock()
	d.id.OSVersion, d.id.BuildVersion = version, build
	d.id.SupplementalBuildVersion, d.id.SupplementalOSVersionExtra = supplementalBuild, extra
	d.mu.Unlock()
}

// DDMActiveLockedForTest calls ddmActiveLocked as the update commands do,
// with the device's lock held.
func DDMActiveLockedForTest(d *Device, declarationType string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ddmActiveLocked(declarationType)
}
