package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
)

// MaxPopulationFile bounds a population file; the default is ~4 KB.
const MaxPopulationFile = 1 << 20

// ErrPopulationFile is wrapped by every error of LoadPopulation and
// ParsePopulation.
var ErrPopulationFile = errors.New("population file")

// LoadPopulation reads and validates a population file (YAML, the shape of
// examples/population.yaml). Unknown keys are errors, so a typo never
// silently leaves a share at zero; errors name the file, and the line where
// the YAML decoder knows it.
func LoadPopulation(path string) (Population, error) {
	f, err := os.Open(path)
	if err != nil {
		return Population{}, fmt.Errorf("%w: %w", ErrPopulationFile, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPopulationFile+1))
	if err != nil {
		return Population{}, fmt.Errorf("%w: %s: %w", ErrPopulationFile, path, err)
	}
	return ParsePopulation(data, path)
}

// ParsePopulation decodes and validates a population file's bytes; name is
// what errors call it. A key left out is zero (a share nobody has), not the
// default's value: a file says the whole population.
func ParsePopulation(data []byte, name string) (Population, error) {
	if len(data) > MaxPopulationFile {
		return Population{}, fmt.Errorf("%w: %s: larger than %d bytes", ErrPopulationFile, name, MaxPopulationFile)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p Population
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return Population{}, fmt.Errorf("%w: %s: empty", ErrPopulationFile, name)
		}
		return Population{}, fmt.Errorf("%w: %s: %w", ErrPopulationFile, name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Population{}, fmt.Errorf("%w: %s: more than one YAML document", ErrPopulationFile, name)
	}
	if err := p.Validate(); err != nil {
		return Population{}, fmt.Errorf("%w: %s: %w", ErrPopulationFile, name, err)
	}
	return p, nil
}
