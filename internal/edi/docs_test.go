package edi

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

const docPath = "../../docs/edi.md"

// codeTable renders a mapping table as the Markdown docs/edi.md shows.
func codeTable(table map[string]Mapping) string {
	var b strings.Builder
	b.WriteString("| Code | Meaning | DCSA event | Fixed by the code |\n|---|---|---|---|\n")
	for _, c := range sortedCodes(table) {
		m := table[c]
		ev := string(m.Type) + " " + m.Code
		if m.DocType != "" {
			ev += " (" + m.DocType + ")"
		}
		var fixed []string
		for _, v := range []string{m.Empty, m.Mode, m.Classifier} {
			if v != "" {
				fixed = append(fixed, v)
			}
		}
		if m.Stop != "" {
			fixed = append(fixed, "place of the "+m.Stop+" stop")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", c, m.Meaning, ev, strings.Join(fixed, ", "))
	}
	return b.String()
}

// docTables are the generated sections of docs/edi.md.
func docTables() map[string]string {
	return map[string]string{"rec24": codeTable(Rec24), "ocean": codeTable(Ocean), "truck": codeTable(Truck)}
}

var section = regexp.MustCompile(`(?s)<!-- codes:(\w+) -->\n(.*?)<!-- end -->`)

// TestDocumentedCodes keeps the code tables in docs/edi.md equal to the
// ones the gateway maps with (go test -run TestDocumentedCodes -regenerate
// rewrites them).
func TestDocumentedCodes(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	tables := docTables()
	seen := map[string]bool{}
	out := section.ReplaceAllStringFunc(string(doc), func(s string) string {
		name := section.FindStringSubmatch(s)[1]
		seen[name] = true
		return "<!-- codes:" + name + " -->\n" + tables[name] + "<!-- end -->"
	})
	for name := range tables {
		if !seen[name] {
			t.Errorf("docs/edi.md has no section <!-- codes:%s --> … <!-- end -->", name)
		}
	}
	if out == string(doc) {
		return
	}
	if *updateSeeds {
		if err := os.WriteFile(docPath, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Error("the code tables in docs/edi.md differ from codes.go (run go test -run TestDocumentedCodes -regenerate)")
}
