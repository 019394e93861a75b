package targets

import (
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/mdmsim/mdmsim/scenarios/targets/hooks"
)

// Validate reads a target as Open does, without opening it: the names of
// the targets in the process, or a target file parsed and checked (its
// ${VAR}s expanded from the environment). A manifest's test checks the
// file it ships this way.
func Validate(spec string) error {
	if InProcess(spec) {
		return nil
	}
	data, err := os.ReadFile(spec)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	var head struct {
		Kind string `yaml:"kind"`
	}
	if err := yaml.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("%s: %s", spec, yamlError(err))
	}
	switch head.Kind {
	case "nanomdm":
		_, err = parseNanoMDM(spec, data)
		return err
	case "hooks":
		_, err = hooks.Load(spec)
		return err
	case "":
		return fmt.Errorf("%s: no kind: (nanomdm or hooks)", spec)
	}
	return fmt.Errorf("%s: unknown kind %q (nanomdm or hooks)", spec, head.Kind)
}
