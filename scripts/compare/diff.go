package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/ocibuilder/builder/internal/fsutil"
)

// Entry is one path of an unpacked image, reduced to what a container
// sees: mtimes are left out, as both tools stamp them differently.
type Entry struct {
	// Type is dir, file, symlink, fifo, socket or device.
	Type string
	// Mode holds the permission bits and setuid, setgid and sticky.
	Mode     fs.FileMode
	UID, GID uint32
	// Link is a symlink's target.
	Link string
	// Digest is a regular file's content digest.
	Digest string
	// Xattrs maps each extended attribute to its value's digest.
	Xattrs map[string]string
}

// Tree is an unpacked image: entries by absolute slash path ("/" is the
// root).
type Tree map[string]Entry

// Difference is one way the two images differ.
type Difference struct {
	// Where is "config" or the image path that differs.
	Where string
	// What names the field ("Env", "mode", "only in builder", ...).
	What string
	// Builder and Buildah are the two sides, "" when absent.
	Builder, Buildah string
}

// String renders the difference on one line.
func (d Difference) String() string {
	return fmt.Sprintf("%s: %s: builder %s, buildah %s", d.Where, d.What, orNone(d.Builder), orNone(d.Buildah))
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// ReadTree walks the unpacked image at root.
func ReadTree(root string) (Tree, error) {
	t := Tree{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := path.Join("/", filepath.ToSlash(rel))
		e, err := readEntry(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		t[name] = e
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walking %s: %w", root, err)
	}
	return t, nil
}

func readEntry(p string) (Entry, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Mode: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.UID, e.GID = st.Uid, st.Gid
	}
	switch t := fi.Mode().Type(); {
	case t == 0:
		e.Type = "file"
		if e.Digest, err = fileDigest(p); err != nil {
			return Entry{}, err
		}
	case t == fs.ModeDir:
		e.Type = "dir"
	case t == fs.ModeSymlink:
		e.Type = "symlink"
		if e.Link, err = os.Readlink(p); err != nil {
			return Entry{}, err
		}
	case t == fs.ModeNamedPipe:
		e.Type = "fifo"
	case t == fs.ModeSocket:
		e.Type = "socket"
	default:
		e.Type = "device"
	}
	if e.Xattrs, err = readXattrs(p); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// emptyDigest is the content digest of an empty file.
const emptyDigest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func fileDigest(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// readXattrs lists p's extended attributes, values by digest.
func readXattrs(p string) (map[string]string, error) {
	d, err := fsutil.OpenDir(filepath.Dir(p))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	name := filepath.Base(p)
	names, err := d.ListXattrs(name)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range names {
		val, _, err := d.GetXattr(name, n)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(val)
		out[n] = "sha256:" + hex.EncodeToString(sum[:8])
	}
	return out, nil
}

// describe is an entry on its own, for a path only one side has.
func (e Entry) describe() string {
	s := fmt.Sprintf("%s %04o %d:%d", e.Type, fsutil.UnixMode(e.Mode), e.UID, e.GID)
	switch e.Type {
	case "symlink":
		s += " -> " + e.Link
	case "file":
		s += " " + shortDigest(e.Digest)
	}
	return s
}

func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

// CompareTrees lists how two unpacked images differ, by path. Below a path
// only one side has, nothing more is listed: the top one says it all.
// buildah's empty RUN mountpoint files are left out as noise.
func CompareTrees(builder, buildah Tree) []Difference {
	buildah = maps.Clone(buildah)
	// buildah's chroot isolation creates these empty, as mountpoints for
	// RUN steps, and leaves them in the image.
	for _, p := range []string{"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/run/.containerenv"} {
		if e, ok := buildah[p]; ok && e.Type == "file" && e.Digest == emptyDigest {
			if _, inBuilder := builder[p]; !inBuilder {
				delete(buildah, p)
			}
		}
	}
	paths := slices.Sorted(maps.Keys(builder))
	for p := range buildah {
		if _, ok := builder[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	var out []Difference
	var missingTop string
	for _, p := range paths {
		if missingTop != "" && strings.HasPrefix(p, missingTop) {
			continue
		}
		a, inA := builder[p]
		b, inB := buildah[p]
		switch {
		case !inB:
			out = append(out, Difference{Where: p, What: "only in builder", Builder: a.describe()})
			missingTop = strings.TrimSuffix(p, "/") + "/"
			continue
		case !inA:
			out = append(out, Difference{Where: p, What: "only in buildah", Buildah: b.describe()})
			missingTop = strings.TrimSuffix(p, "/") + "/"
			continue
		}
		missingTop = ""
		if a.Type != b.Type {
			out = append(out, Difference{Where: p, What: "type", Builder: a.describe(), Buildah: b.describe()})
			continue
		}
		if a.Mode != b.Mode {
			out = append(out, Difference{Where: p, What: "mode", Builder: fmt.Sprintf("%04o", fsutil.UnixMode(a.Mode)), Buildah: fmt.Sprintf("%04o", fsutil.UnixMode(b.Mode))})
		}
		if a.UID != b.UID || a.GID != b.GID {
			out = append(out, Difference{Where: p, What: "owner", Builder: fmt.Sprintf("%d:%d", a.UID, a.GID), Buildah: fmt.Sprintf("%d:%d", b.UID, b.GID)})
		}
		if a.Link != b.Link {
			out = append(out, Difference{Where: p, What: "link target", Builder: a.Link, Buildah: b.Link})
		}
		if a.Digest != b.Digest {
			out = append(out, Difference{Where: p, What: "content", Builder: shortDigest(a.Digest), Buildah: shortDigest(b.Digest)})
		}
		if !maps.Equal(a.Xattrs, b.Xattrs) {
			out = append(out, Difference{Where: p, What: "xattrs", Builder: xattrNames(a.Xattrs), Buildah: xattrNames(b.Xattrs)})
		}
	}
	return out
}

func xattrNames(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// buildahVersionLabel is the label buildah stamps on every image it
// builds.
const buildahVersionLabel = "io.buildah.version"

// CompareConfigs lists how the run-time parts of two image configs
// differ: what a container starts with. History, creation times, rootfs
// diff IDs and the tools' own labels are left out as noise; an empty list
// or map equals an absent one.
func CompareConfigs(builder, buildah dockerspec.DockerOCIImage) []Difference {
	a, b := builder.Config, buildah.Config
	type field struct {
		name   string
		va, vb any
	}
	fields := []field{
		{"OS", builder.OS, buildah.OS},
		{"Architecture", builder.Architecture, buildah.Architecture},
		{"Variant", builder.Variant, buildah.Variant},
		{"User", a.User, b.User},
		{"Env", a.Env, b.Env},
		{"Entrypoint", a.Entrypoint, b.Entrypoint},
		{"Cmd", a.Cmd, b.Cmd},
		{"WorkingDir", workdir(a.WorkingDir), workdir(b.WorkingDir)},
		{"ExposedPorts", a.ExposedPorts, b.ExposedPorts},
		{"Volumes", a.Volumes, b.Volumes},
		{"Labels", withoutLabels(a.Labels), withoutLabels(b.Labels)},
		{"StopSignal", a.StopSignal, b.StopSignal},
		{"Shell", a.Shell, b.Shell},
		{"Healthcheck", a.Healthcheck, b.Healthcheck},
		{"OnBuild", a.OnBuild, b.OnBuild},
	}
	var out []Difference
	for _, f := range fields {
		ja, jb := canonical(f.va), canonical(f.vb)
		if ja != jb {
			out = append(out, Difference{Where: "config", What: f.name, Builder: ja, Buildah: jb})
		}
	}
	return out
}

// workdir is where a container with working directory wd starts: an
// unset one is the root (BuildKit writes "/" for FROM scratch, buildah
// leaves it empty).
func workdir(wd string) string {
	if wd == "" {
		return "/"
	}
	return wd
}

func withoutLabels(m map[string]string) map[string]string {
	out := maps.Clone(m)
	delete(out, buildahVersionLabel)
	return out
}

// canonical is v as JSON, with empty lists, maps and strings and nil
// pointers all "".
func canonical(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	switch s := string(raw); s {
	case "null", "[]", "{}", `""`:
		return ""
	default:
		return s
	}
}
