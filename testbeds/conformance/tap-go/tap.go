// Package tap is davit's minimal Test Anything Protocol (TAP version 13)
// producer. It is built at the import path github.com/mndrix/tap-go so the
// OCI runtime-tools validation suite compiles against it (that library is not
// packaged in Debian). Only the API the suite uses is provided.
package tap

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// counter is shared between a T and the views returned by Todo, so that test
// numbers stay sequential whichever view emits a result.
type counter struct {
	mu   sync.Mutex
	next int
}

// T emits TAP to Writer (os.Stdout by default).
type T struct {
	Writer io.Writer
	c      *counter
	todo   bool
}

// New returns a producer writing to standard output.
func New() *T {
	return &T{Writer: os.Stdout, c: &counter{next: 1}}
}

func (t *T) out() io.Writer {
	if t.Writer == nil {
		return os.Stdout
	}
	return t.Writer
}

// Header prints the version line and, when testCount > 0, the plan.
func (t *T) Header(testCount int) {
	fmt.Fprintln(t.out(), "TAP version 13")
	if testCount > 0 {
		fmt.Fprintf(t.out(), "1..%d\n", testCount)
	}
}

// AutoPlan prints a trailing plan covering every test emitted so far.
func (t *T) AutoPlan() {
	fmt.Fprintf(t.out(), "1..%d\n", t.Count())
}

// Count is the number of test points emitted so far.
func (t *T) Count() int {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.c.next - 1
}

// oneLine keeps a description from breaking the line-oriented protocol.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", " ")
}

func (t *T) emit(ok bool, directive, description string) {
	t.c.mu.Lock()
	n := t.c.next
	t.c.next++
	t.c.mu.Unlock()

	var b strings.Builder
	if !ok {
		b.WriteString("not ")
	}
	fmt.Fprintf(&b, "ok %d", n)
	if description = oneLine(description); description != "" && directive == "" {
		b.WriteString(" - ")
		b.WriteString(strings.ReplaceAll(description, "#", "\\#"))
	}
	if directive != "" {
		b.WriteString(" # ")
		b.WriteString(directive)
		if description != "" {
			b.WriteString(" ")
			b.WriteString(description)
		}
	}
	b.WriteString("\n")
	io.WriteString(t.out(), b.String())
}

// Ok emits one test point whose status is test.
func (t *T) Ok(test bool, description string) {
	if t.todo {
		t.emit(test, "TODO", description)
		return
	}
	t.emit(test, "", description)
}

// Pass emits a passing test point.
func (t *T) Pass(description string) { t.Ok(true, description) }

// Fail emits a failing test point.
func (t *T) Fail(description string) { t.Ok(false, description) }

// Skip emits count skipped test points with the given reason.
func (t *T) Skip(count int, description string) {
	for i := 0; i < count; i++ {
		t.emit(true, "SKIP", description)
	}
}

// Todo returns a view of t whose test points carry the TODO directive.
func (t *T) Todo() *T {
	v := *t
	v.todo = true
	return &v
}

// Diagnostic prints message as comment lines.
func (t *T) Diagnostic(message string) {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(message, "\n"), "\n") {
		b.WriteString("# ")
		b.WriteString(line)
		b.WriteString("\n")
	}
	io.WriteString(t.out(), b.String())
}

// Diagnosticf is Diagnostic with fmt.Sprintf formatting.
func (t *T) Diagnosticf(format string, a ...interface{}) {
	t.Diagnostic(fmt.Sprintf(format, a...))
}

// YAML prints message as a TAP 13 YAML block attached to the last test point.
func (t *T) YAML(message interface{}) error {
	data, err := yaml.Marshal(message)
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("  ---\n")
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		b.WriteString("  ")
		b.WriteString(line)
		b.WriteString("\n")
	}
	b.WriteString("  ...\n")
	_, err = io.WriteString(t.out(), b.String())
	return err
}
