package targets

// Validate reads a target as Open does, without opening it: the names of
// the targets in the process, or a target file parsed and checked (its
// ${VAR}s expanded from the environment). A manifest's test checks the
// file it ships this way.
func Validate(spec string) error {
	if InProcess(spec) {
		return nil
	}
	_, err := load(spec)
	return err
}
