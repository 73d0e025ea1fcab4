package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/linkd-dev/linkd"
)

// Limits on a rule file.
const (
	MaxFileBytes = 1 << 20 // the rule file
	MaxRules     = 1000    // rules in one file or engine
)

// File is the shape of a rule file:
//
//	rules:
//	  - id: hold-reallocate
//	    name: Re-allocate orders held by customs
//	    when:
//	      shipmentEventTypeCodes: [HOLD]
//	      documentTypeCodes: [CUS]
//	      expression: event.eventLocation.UNLocationCode.startsWith("DE")
//	    action:
//	      reallocate: {}
type File struct {
	Rules []Rule `yaml:"rules"`
}

// LoadFile reads and validates the rule file at path (see File). Decoding is
// strict: an unknown field is an error, as is a value of the wrong type. All
// problems of the file are returned together as a *linkd.ValidationError
// wrapped with the path; each names the rule by position and field
// (rules[2].action.record.eventTypeCode) and its reason starts with the
// rule's id and the line.
func LoadFile(path string) ([]Rule, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("rules: read %s: %w", path, err)
	}
	rules, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("rules: %s: %w", path, err)
	}
	return rules, nil
}

// Parse is LoadFile for the bytes of a rule file.
func Parse(data []byte) ([]Rule, error) {
	if len(data) > MaxFileBytes {
		return nil, &linkd.Error{Code: linkd.ETooLarge, Message: fmt.Sprintf("rule file over %d bytes", MaxFileBytes)}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // an empty file has no rules
		}
		return nil, linkd.Errorf(linkd.EInvalid, "not a YAML rule file: %v", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, linkd.Errorf(linkd.EInvalid, "a rule file holds one YAML document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}

	var probs []linkd.Problem
	// Unknown fields outside the rules.
	strict(root, reflect.TypeFor[File](), "", func(field string, line int, reason string) {
		if !strings.HasPrefix(field, "rules[") {
			probs = append(probs, linkd.Problem{Field: field, Reason: fmt.Sprintf("line %d: %s", line, reason)})
		}
	})
	rulesNode := field(root, "rules")
	if rulesNode == nil {
		if len(probs) == 0 && root.Kind != yaml.MappingNode {
			probs = append(probs, linkd.Problem{Reason: "want a mapping with a rules list"})
		}
		if len(probs) > 0 {
			return nil, &linkd.ValidationError{Problems: probs}
		}
		return nil, nil
	}
	if rulesNode.Kind != yaml.SequenceNode {
		return nil, &linkd.ValidationError{Problems: append(probs, linkd.Problem{Field: "rules", Reason: fmt.Sprintf("line %d: want a list of rules", rulesNode.Line)})}
	}
	if len(rulesNode.Content) > MaxRules {
		return nil, &linkd.ValidationError{Problems: append(probs, linkd.Problem{Field: "rules", Reason: fmt.Sprintf("%d rules; at most %d", len(rulesNode.Content), MaxRules)})}
	}

	rules := make([]Rule, len(rulesNode.Content))
	seen := map[string]int{}
	for i, n := range rulesNode.Content {
		id := ""
		if idNode := field(n, "id"); idNode != nil && idNode.Kind == yaml.ScalarNode {
			id = idNode.Value
		}
		bad := false
		report := func(f string, line int, reason string) {
			bad = true
			probs = append(probs, ruleProblem(i, id, f, fmt.Sprintf("line %d: %s", line, reason)))
		}
		strict(n, reflect.TypeFor[Rule](), "", report)
		if err := n.Decode(&rules[i]); err != nil {
			var te *yaml.TypeError
			if errors.As(err, &te) {
				for _, msg := range te.Errors {
					line, text := splitLine(msg)
					report("", line, text)
				}
			} else {
				report("", n.Line, err.Error())
			}
		}
		if bad {
			continue
		}
		if j, dup := seen[id]; dup && id != "" {
			probs = append(probs, ruleProblem(i, id, "id", fmt.Sprintf("line %d: repeats the id of rules[%d]", n.Line, j)))
		}
		seen[id] = i
		if err := rules[i].Validate(); err != nil {
			for _, p := range problemsOf(err) {
				probs = append(probs, ruleProblem(i, id, p.Field, fmt.Sprintf("line %d: %s", lineOf(n, p.Field), p.Reason)))
			}
		}
	}
	if len(probs) > 0 {
		return nil, &linkd.ValidationError{Problems: probs}
	}
	return rules, nil
}

// strict reports every mapping key of n that names no field of t (by its
// yaml tag), with its path and line. yaml.v3's KnownFields only works on a
// whole decoder; walking the node tree lets each error name its rule.
func strict(n *yaml.Node, t reflect.Type, path string, report func(field string, line int, reason string)) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		var names []string
		for _, f := range reflect.VisibleFields(t) {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			fields[name] = f.Type
			names = append(names, name)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			ft, ok := fields[k.Value]
			if !ok {
				report(p, k.Line, fmt.Sprintf("unknown field %q; known: %s", clip(k.Value), strings.Join(names, ", ")))
				continue
			}
			strict(v, ft, p, report)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			strict(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), report)
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// field returns the value node of key in mapping n, or nil.
func field(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// lineOf is the line of the field at path (when.expression,
// action.record.eventTypeCode, when.origins[2]) under n, or of the nearest
// enclosing node that exists.
func lineOf(n *yaml.Node, path string) int {
	line := n.Line
	for part := range strings.SplitSeq(path, ".") {
		if part == "" {
			break
		}
		name, index, hasIndex := strings.Cut(part, "[")
		if n = field(n, name); n == nil {
			break
		}
		line = n.Line
		if hasIndex {
			i, err := strconv.Atoi(strings.TrimSuffix(index, "]"))
			if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				break
			}
			n = n.Content[i]
			line = n.Line
		}
	}
	return line
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// splitLine splits yaml.v3's "line 12: cannot unmarshal …".
func splitLine(msg string) (int, string) {
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 0, msg
}

// Marshal returns the YAML rule file of rules, as LoadFile reads it.
func Marshal(rules []Rule) ([]byte, error) {
	return yaml.Marshal(File{Rules: slices.Clone(rules)})
}
