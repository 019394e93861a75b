package simulator

// jobStep names what a job's timer runs when it fires, so a job's pending
// timers are data that State saves and Restore re-arms (update_state.go),
// not closures.
type jobStep uint8

const (
	stepNone jobStep = iota
	stepBeginDownload
	stepDownloadDone
	stepPrepared
	stepPrompt
	stepAuthorize
	stepAuthorized // the user authorised the install: it begins
	stepBeginInstall
	stepCountdownDone
	stepInstall
	stepRestart
	stepBackOnline
	stepIOSPrompt
	stepRequestCountdown // the user acted on a NotifyOnly notification
	stepRequestUser      // the user chose "Restart Now"
	stepNight
	stepCount
)

// runStepLocked runs step on j; d.mu is held.
func (d *Device) runStepLocked(j *updateJob, step jobStep) {
	switch step {
	case stepBeginDownload:
		d.beginDownload(j)
	case stepDownloadDone:
		d.downloadDone(j)
	case stepPrepared:
		d.preparedStep(j)
	case stepPrompt:
		d.promptStep(j)
	case stepAuthorize:
		d.authorizeStep(j)
	case stepAuthorized:
		j.authorized, j.waiting = true, ""
		d.beginInstallLocked(j)
	case stepBeginInstall:
		d.beginInstallLocked(j)
	case stepCountdownDone:
		d.countdownDone(j)
	case stepInstall:
		d.installLocked(j)
	case stepRestart:
		d.restartStep(j)
	case stepBackOnline:
		d.backOnline(j)
	case stepIOSPrompt:
		d.iosPromptLocked(j)
	case stepRequestCountdown:
		d.requestInstallLocked(j, modeCountdown)
	case stepRequestUser:
		d.requestInstallLocked(j, modeUser)
	case stepNight:
		d.nightStep(j)
	}
}
