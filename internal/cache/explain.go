package cache

import (
	"fmt"
	"slices"
	"strings"
)

// maxListed is how many items of a kind (files, variables) a reason
// names before it summarises the rest as "and N more".
const maxListed = 3

// Explain says why a step missed the cache, comparing its inputs now (cur)
// with those of its most recent build (last, nil if there was none). The
// reason is one line; the step's own changes come before the ones it
// inherits from earlier steps.
func Explain(last, cur *Entry) string {
	if last == nil {
		return "no earlier build of this step"
	}
	if last.Key == cur.Key {
		return "its cache record is gone (pruned or unreadable)"
	}
	var why []string
	add := func(format string, a ...any) { why = append(why, fmt.Sprintf(format, a...)) }
	o, n := last.Input, cur.Input
	textChanged := last.Text != cur.Text
	if textChanged {
		add("instruction changed (was %q)", short(last.Text))
	}
	if d := varChanges(o.BuildArgs, n.BuildArgs); d != "" {
		add("build arg %s", d)
	}
	if d := varChanges(o.Env, n.Env); d != "" {
		add("ENV %s", d)
	}
	if o.User != n.User {
		add("USER changed: %q → %q", o.User, n.User)
	}
	if o.Workdir != n.Workdir {
		add("WORKDIR changed: %q → %q", o.Workdir, n.Workdir)
	}
	if o.Network != n.Network {
		add("network changed: %q → %q", orDefault(o.Network), orDefault(n.Network))
	}
	if o.Platform != n.Platform {
		add("platform changed: %s → %s", o.Platform, n.Platform)
	}
	if o.Epoch != n.Epoch {
		add("SOURCE_DATE_EPOCH changed: %q → %q", o.Epoch, n.Epoch)
	}
	if o.Layer != n.Layer {
		add("layer compression changed: %s → %s", o.Layer, n.Layer)
	}
	if o.Files != n.Files {
		add("%s", fileChanges(last.Files, cur.Files))
	}
	if d := sourceChanges(o.Sources, n.Sources); d != "" {
		add("%s", d)
	}
	if !textChanged && !slices.Equal(o.Args, n.Args) && len(why) == 0 {
		add("instruction expands differently (was %q)", short(strings.Join(o.Args, " ")))
	}
	if o.Parent != n.Parent {
		switch {
		case o.Base != "" && n.Base != "" && o.Base != n.Base:
			add("base image changed: %s → %s", o.Base, n.Base)
		case o.Base != "" && n.Base != "":
			add("base changed")
		default:
			add("an earlier step was rebuilt")
		}
	}
	if len(why) == 0 {
		// Inputs differ in a part not described above (a new key
		// version, an op change with the same text).
		return "the step's inputs changed"
	}
	return strings.Join(why, "; ")
}

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// varChanges describes the differences between two NAME=value lists.
func varChanges(old, cur []string) string {
	om, cm := toMap(old), toMap(cur)
	var parts []string
	for _, k := range sortedKeys(om, cm) {
		ov, inOld := om[k]
		cv, inCur := cm[k]
		switch {
		case inOld && inCur && ov != cv:
			parts = append(parts, fmt.Sprintf("%s changed: %q → %q", k, short(ov), short(cv)))
		case inOld && !inCur:
			parts = append(parts, fmt.Sprintf("%s unset (was %q)", k, short(ov)))
		case !inOld && inCur:
			parts = append(parts, fmt.Sprintf("%s set to %q", k, short(cv)))
		}
	}
	return list(parts)
}

func toMap(kvs []string) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func sortedKeys(a, b map[string]string) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// fileChanges names the context files that differ between two file lists.
func fileChanges(old, cur []File) string {
	om := make(map[string]File, len(old))
	for _, f := range old {
		om[f.Path] = f
	}
	var parts []string
	seen := make(map[string]bool, len(cur))
	for _, f := range cur {
		seen[f.Path] = true
		of, ok := om[f.Path]
		switch {
		case !ok:
			parts = append(parts, f.Path+" (added)")
		case of.Digest != f.Digest || of.Link != f.Link:
			parts = append(parts, f.Path+" (modified)")
		case of.Mode != f.Mode:
			parts = append(parts, f.Path+" (mode)")
		}
	}
	for _, f := range old {
		if !seen[f.Path] {
			parts = append(parts, f.Path+" (removed)")
		}
	}
	if len(parts) == 0 {
		return "source files changed"
	}
	return "files changed: " + list(parts)
}

// sourceChanges describes changed stage, image, URL and mount sources.
func sourceChanges(old, cur []string) string {
	if slices.Equal(old, cur) {
		return ""
	}
	var parts []string
	for _, s := range cur {
		if slices.Contains(old, s) {
			continue
		}
		kind, rest, _ := strings.Cut(s, " ")
		name, _, _ := strings.Cut(rest, " ")
		switch kind {
		case "stage":
			parts = append(parts, "stage "+name+" was rebuilt")
		case "image":
			parts = append(parts, "image "+name+" changed")
		case "url":
			parts = append(parts, "content of "+name+" changed")
		case "bind", "cache":
			parts = append(parts, "what the "+kind+" mount at "+name+" reads changed")
		case "git":
			_, after, _ := strings.Cut(rest, " ")
			commit, _, _ := strings.Cut(after, " ")
			parts = append(parts, "git repository "+name+" is now at commit "+commit)
		default:
			parts = append(parts, s+" changed")
		}
	}
	if len(parts) == 0 {
		return "sources changed"
	}
	return list(parts)
}

// list joins parts, naming at most maxListed.
func list(parts []string) string {
	if len(parts) <= maxListed {
		return strings.Join(parts, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(parts[:maxListed], ", "), len(parts)-maxListed)
}
