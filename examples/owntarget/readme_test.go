package owntarget

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEShowsThisFile: the README's Go example is this package's test
// file as it is, so the example compiles and runs as written.
func TestREADMEShowsThisFile(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("owntarget_test.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```go\n"+string(src)+"```") {
		t.Error("README.md does not show examples/owntarget/owntarget_test.go as it is: copy the file into its Go block")
	}
}
