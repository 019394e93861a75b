package identity

// AppleOUIs returns the OUIs device hardware addresses are drawn from.
func AppleOUIs() [][3]byte { return appleOUIs[:] }
