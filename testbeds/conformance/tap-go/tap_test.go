package tap

import (
	"bytes"
	"testing"
)

func TestOutput(t *testing.T) {
	var buf bytes.Buffer
	tt := New()
	tt.Writer = &buf
	tt.Header(0)
	tt.Ok(true, "first")
	tt.Fail("second # hash")
	tt.Skip(2, "why")
	tt.Todo().Fail("later")
	tt.Pass("")
	tt.Diagnosticf("a %d\nb", 1)
	if err := tt.YAML(map[string]string{"stdout": "not ok 1\nok 2\n"}); err != nil {
		t.Fatal(err)
	}
	tt.AutoPlan()
	want := "TAP version 13\n" +
		"ok 1 - first\n" +
		"not ok 2 - second \\# hash\n" +
		"ok 3 # SKIP why\n" +
		"ok 4 # SKIP why\n" +
		"not ok 5 # TODO later\n" +
		"ok 6\n" +
		"# a 1\n# b\n" +
		"  ---\n  stdout: |\n      not ok 1\n      ok 2\n  ...\n" +
		"1..6\n"
	if got := buf.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	if tt.Count() != 6 {
		t.Fatalf("count %d", tt.Count())
	}
}
