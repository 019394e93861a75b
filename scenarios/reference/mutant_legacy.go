package reference

// Mutants of the legacy enforcer (legacy.go): mistakes servers make with
// ScheduleOSUpdate and its companions.
const (
	// MutantNeverScans asks a Mac AvailableOSUpdates without a
	// ScheduleOSUpdateScan first, and so reads a stale list.
	MutantNeverScans Mutant = "never-scans"
	// MutantASAPEverywhere sends InstallASAP for every update: a Mac's
	// minor update that allows InstallLater, and an iPhone's first
	// ScheduleOSUpdate (no two-step Default).
	MutantASAPEverywhere Mutant = "asap-everywhere"
	// MutantDeferralsWithoutInstallLater sends MaxUserDeferrals with
	// InstallASAP for a Mac's minor update: the device ignores the
	// deferrals and the user gets none.
	MutantDeferralsWithoutInstallLater Mutant = "deferrals-without-installlater"
	// MutantGivesUpOnNotNow ends a device's enforcement at its first NotNow.
	MutantGivesUpOnNotNow Mutant = "gives-up-on-notnow"
	// MutantNeverRepushes pushes only when it queues a command: a push APNs
	// dropped, or a NotNow, leaves the device waiting for ever.
	MutantNeverRepushes Mutant = "never-repushes"
	// MutantLegacyTo27 takes a device's "not a valid request type" for a
	// passing failure and keeps sending the legacy update commands to a
	// device on 27, which no longer has them.
	MutantLegacyTo27 Mutant = "legacy-to-27"
	// MutantPollsForever ignores why a device cannot update (unsupervised,
	// no space, no power, no volume owner) and schedules it again at every
	// poll.
	MutantPollsForever Mutant = "polls-forever"
	// MutantHammersSchedule sends ScheduleOSUpdate again before every
	// OSUpdateStatus poll instead of once and then watching.
	MutantHammersSchedule Mutant = "hammers-schedule"
)

func init() {
	Mutants = append(Mutants,
		MutantInfo{Name: MutantNeverScans, Mistake: "asks a Mac AvailableOSUpdates without ScheduleOSUpdateScan, so it reads a stale cached list"},
		MutantInfo{Name: MutantASAPEverywhere, Mistake: "sends InstallASAP for every update: no InstallLater for a Mac's minor update, no download-then-install on iOS"},
		MutantInfo{Name: MutantDeferralsWithoutInstallLater, Mistake: "sends MaxUserDeferrals with InstallASAP, where the device ignores it: the user gets no deferral"},
		MutantInfo{Name: MutantGivesUpOnNotNow, Mistake: "takes a NotNow as the end: a locked iPhone is never updated once unlocked"},
		MutantInfo{Name: MutantNeverRepushes, Mistake: "pushes only when it queues a command: a push APNs dropped is never sent again"},
		MutantInfo{Name: MutantLegacyTo27, Mistake: "keeps sending the legacy update commands to a device on 27 that answered it does not know them"},
		MutantInfo{Name: MutantPollsForever, Mistake: "ignores why a device cannot update and schedules it again at every poll"},
		MutantInfo{Name: MutantHammersSchedule, Mistake: "sends ScheduleOSUpdate before every OSUpdateStatus poll"},
	)
}
