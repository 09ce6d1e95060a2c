package helm

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the chart README's values table")

const (
	tableStart = "<!-- values table: made from values.yaml by `go test ./deploy/helm -run TestValuesDocumented -update`; do not edit -->"
	tableEnd   = "<!-- end of values table -->"
)

// schemaNode is the part of values.schema.json this test reads.
type schemaNode struct {
	Type                 any                    `json:"type"`
	Ref                  string                 `json:"$ref"`
	Properties           map[string]*schemaNode `json:"properties"`
	AdditionalProperties any                    `json:"additionalProperties"`
}

// valueDoc is one documented key of values.yaml.
type valueDoc struct {
	path, doc, def string
}

// TestValuesDocumented: every key of values.yaml is in the schema and the
// schema has no key values.yaml lacks; every key the chart defines (not the
// Kubernetes objects passed through) has a comment that starts with its
// name; every object in the schema rejects unknown keys; and the README's
// values table is what these comments make.
func TestValuesDocumented(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	rawSchema, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		schemaNode
		Definitions map[string]*schemaNode `json:"definitions"`
	}
	if err := json.Unmarshal(rawSchema, &schema); err != nil {
		t.Fatal(err)
	}

	checkStrict(t, "values", &schema.schemaNode)
	for name, d := range schema.Definitions {
		checkStrict(t, "definitions."+name, d)
	}

	var docs []valueDoc
	walkValues(t, doc.Content[0], &schema.schemaNode, "", &docs)

	var table strings.Builder
	table.WriteString("| key | default | |\n|---|---|---|\n")
	for _, d := range docs {
		fmt.Fprintf(&table, "| `%s` | %s | %s |\n", d.path, d.def, strings.ReplaceAll(d.doc, "|", "\\|"))
	}
	readmePath := filepath.Join(chartDir, "README.md")
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	start, end := bytes.Index(readme, []byte(tableStart)), bytes.Index(readme, []byte(tableEnd))
	if start < 0 || end < start {
		t.Fatalf("%s has no values table markers", readmePath)
	}
	want := tableStart + "\n\n" + table.String() + "\n"
	got := string(readme[start:end])
	if got == want {
		return
	}
	if *update {
		out := append([]byte{}, readme[:start]...)
		out = append(out, want...)
		out = append(out, readme[end:]...)
		if err := os.WriteFile(readmePath, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's values table is not current: run go test ./deploy/helm -run TestValuesDocumented -update", readmePath)
}

// checkStrict fails on an object schema with properties that allows
// other keys.
func checkStrict(t *testing.T, path string, s *schemaNode) {
	t.Helper()
	if s.Properties != nil && s.AdditionalProperties != false {
		t.Errorf("schema %s lists properties but does not reject others (additionalProperties: false)", path)
	}
	for k, p := range s.Properties {
		checkStrict(t, path+"."+k, p)
	}
}

// walkValues checks one mapping of values.yaml against its schema and
// collects the documentation of its keys.
func walkValues(t *testing.T, m *yaml.Node, s *schemaNode, prefix string, docs *[]valueDoc) {
	t.Helper()
	if m.Kind != yaml.MappingNode {
		t.Fatalf("%s: not a mapping", prefix)
	}
	var keys []string
	for i := 0; i < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		path := prefix + k.Value
		keys = append(keys, k.Value)
		sub := s.Properties[k.Value]
		if sub == nil {
			t.Errorf("values key %s is not in values.schema.json", path)
			continue
		}
		comment := strings.TrimSpace(strings.TrimPrefix(lastParagraph(k.HeadComment), "#"))
		if !strings.HasPrefix(comment, path+" ") {
			t.Errorf("values key %s: its comment must start with %q, got %q", path, path, comment)
			continue
		}
		def := ""
		if sub.Properties == nil || sub.Ref != "" {
			var b bytes.Buffer
			var val any
			if err := v.Decode(&val); err != nil {
				t.Fatal(err)
			}
			j, _ := json.Marshal(val)
			b.Write(j)
			def = "`" + b.String() + "`"
		}
		*docs = append(*docs, valueDoc{path: path, doc: strings.TrimPrefix(comment, path+" "), def: def})
		// The chart's own keys go on; Kubernetes objects passed through
		// (a $ref, or an object without properties) are documented by
		// Kubernetes.
		if sub.Properties != nil && sub.Ref == "" && v.Kind == yaml.MappingNode {
			walkValues(t, v, sub, path+".", docs)
		}
	}
	for k := range s.Properties {
		if !slices.Contains(keys, k) {
			t.Errorf("schema key %s%s is not in values.yaml (every key needs a default and a comment)", prefix, k)
		}
	}
}

// lastParagraph is the comment block right above a key, without the
// file's header or a blank-line-separated block before it.
func lastParagraph(c string) string {
	parts := strings.Split(strings.TrimSpace(c), "\n\n")
	p := parts[len(parts)-1]
	var lines []string
	for _, l := range strings.Split(p, "\n") {
		lines = append(lines, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "#")))
	}
	return "# " + strings.Join(lines, " ")
}
