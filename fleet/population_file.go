package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

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
		return Population{}, fmt.Errorf("%w: %s: %s", ErrPopulationFile, name, yamlWords(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Population{}, fmt.Errorf("%w: %s: more than one YAML document", ErrPopulationFile, name)
	}
	if err := p.Validate(); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.Line = lineOf(data, fe.Field)
		}
		return Population{}, fmt.Errorf("%w: %s: %w", ErrPopulationFile, name, err)
	}
	return p, nil
}

// goType is how the YAML decoder names a Go type in its errors; badValue
// is its "cannot unmarshal" error.
var (
	goType   = regexp.MustCompile(` in type [\w.\[\]*]+`)
	badValue = regexp.MustCompile("cannot unmarshal !!(\\w+) (?:(.*) )?into ([\\w.\\[\\]*]+)")
)

// kindWords says what a Go type holds, in a YAML file's words.
func kindWords(goType string) string {
	switch {
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "fleet."), strings.HasPrefix(goType, "struct"):
		return "a mapping"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "float"), strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "text"
	}
	return "the right kind of value"
}

// yamlWords is a decoder's error in the file's words: "line 3: field
// users not found" rather than the Go type it was decoding into.
func yamlWords(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
	s = goType.ReplaceAllString(s, "")
	s = badValue.ReplaceAllStringFunc(s, func(m string) string {
		sub := badValue.FindStringSubmatch(m)
		what := sub[2]
		if what == "" {
			what = "the " + map[string]string{"seq": "list", "map": "mapping"}[sub[1]]
		}
		return what + " is not " + kindWords(sub[3])
	})
	s = strings.ReplaceAll(s, "field ", "unknown key ")
	s = strings.ReplaceAll(s, " not found", "")
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "; ")
}

// lineOf finds the line that sets a field ("os.iOS", "free_disk[1].share"),
// or of its nearest parent the file sets; 0 if none.
func lineOf(data []byte, field string) int {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	n, line := doc.Content[0], 0
	for _, part := range strings.Split(field, ".") {
		key, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			key = part[:i]
			idx, _ = strconv.Atoi(part[i+1 : len(part)-1])
		}
		next := (*yaml.Node)(nil)
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					next, line = n.Content[i+1], n.Content[i].Line
					break
				}
			}
		}
		if next == nil {
			return line
		}
		if idx >= 0 {
			if next.Kind != yaml.SequenceNode || idx >= len(next.Content) {
				return line
			}
			next = next.Content[idx]
			line = next.Line
		}
		n = next
	}
	return line
}
