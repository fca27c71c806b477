package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ocibuilder/builder/pkg/layer"
	"golang.org/x/sys/unix"
)

// fuzzLayers is a small image with whiteouts, opaque dirs, a dir replaced
// by a file, a symlinked dir and a hard-linked pair.
func fuzzLayers() [][]ent {
	return [][]ent{
		{
			d("a"), f("a/f", "f"), f("a/g", "g"), d("a/d"), f("a/d/x", "x"),
			d("b"), f("b/h", "h"), l("b/l", "h"),
			f("c", "c"), {path: "c2", kind: 'h', data: "c"},
			d("e"), f("e/y", "y"),
		},
		{
			d("a"), wh("a/g"),
			opq("b"), f("b/k", "k"),
			d("e"), f("e/z", "z"),
			l("s", "a"),
		},
		{
			d("a"), opq("a/d"), f("a/d/w", "w"),
			d("e"), wh("e/y"), f("e/z", "zz"),
			f("b", "b is a file now"), d("b2"), f("b2/k", "k"),
		},
	}
}

// fuzzPaths are the names operations act on. Symlink targets never contain
// "..", so following links cannot leave the root.
var fuzzPaths = []string{
	"a", "a/f", "a/g", "a/d", "a/d/x", "a/n", "b", "b/h", "b/k", "b/l",
	"c", "c2", "e", "e/y", "e/z", "n", "n/m", "s", "s/f", "s/q",
	"a/d/w", "b2", "b2/k", "b/y",
}

var fuzzTargets = []string{"a", "h", "missing", "f", "d/x"}

var fuzzModes = []uint32{0o644, 0o755, 0o600, 0o4755, 0o1777, 0o2755, 0o700, 0o444}

// fuzzPair is the hard-linked pair of the bottom layer; ops 15 to 17 act
// on one of its names, chosen by the second argument.
var fuzzPair = []string{"c", "c2"}

// fuzzNewNames are the names ops 15 and 17 give a name of the pair.
var fuzzNewNames = []string{"n", "a/n", "c3", "c2", "e/y"}

// fuzzOps is the number of operation codes.
const fuzzOps = 18

// fuzzOp is one step operation decoded from three bytes.
type fuzzOp struct{ code, p1, p2 byte }

func (o fuzzOp) String() string {
	return fmt.Sprintf("op%d(%s,%s,%d)", o.code%fuzzOps, fuzzPaths[int(o.p1)%len(fuzzPaths)], fuzzPaths[int(o.p2)%len(fuzzPaths)], o.p2)
}

func decodeOps(data []byte) []fuzzOp {
	var ops []fuzzOp
	for i := 0; i+2 < len(data) && len(ops) < 16; i += 3 {
		ops = append(ops, fuzzOp{data[i], data[i+1], data[i+2]})
	}
	return ops
}

// apply runs o under root and returns its errno (0 on success), so both
// roots can be checked to have seen the same effects.
func (o fuzzOp) apply(root string) error {
	p1 := filepath.Join(root, fuzzPaths[int(o.p1)%len(fuzzPaths)])
	p2 := filepath.Join(root, fuzzPaths[int(o.p2)%len(fuzzPaths)])
	arg := int(o.p2)
	pair := filepath.Join(root, fuzzPair[arg%2])
	newName := filepath.Join(root, fuzzNewNames[int(o.p1)%len(fuzzNewNames)])
	switch o.code % fuzzOps {
	case 0:
		return writeFile(p1, os.O_TRUNC, strings.Repeat("w", arg%7))
	case 1:
		return writeFile(p1, os.O_APPEND, "+")
	case 2:
		return os.Mkdir(p1, 0o755)
	case 3:
		return os.Remove(p1)
	case 4:
		// os.RemoveAll opens the parent, which blocks on a fifo.
		if fi, err := os.Stat(filepath.Dir(p1)); err != nil {
			return err
		} else if !fi.IsDir() {
			return unix.ENOTDIR
		}
		return os.RemoveAll(p1)
	case 5:
		return unix.Chmod(p1, fuzzModes[arg%len(fuzzModes)])
	case 6:
		id := []int{0, 1000, 0}[arg%3]
		return os.Lchown(p1, id, id)
	case 7:
		return os.Symlink(fuzzTargets[arg%len(fuzzTargets)], p1)
	case 8:
		return os.Link(p1, p2)
	case 9:
		// Directory renames are EXDEV on overlayfs without redirect_dir;
		// a step's mv then copies, which the other ops already cover.
		if fi, err := os.Lstat(p1); err == nil && fi.IsDir() {
			return nil
		}
		return os.Rename(p1, p2)
	case 10:
		return os.Truncate(p1, int64(arg%5))
	case 11:
		mt := baseTime
		if arg%2 == 1 {
			mt = mt.Add(time.Duration(arg))
		}
		ts := unix.NsecToTimespec(mt.UnixNano())
		return unix.UtimesNanoAt(unix.AT_FDCWD, p1, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	case 12:
		if arg%2 == 1 {
			return unix.Lremovexattr(p1, "user.k")
		}
		return unix.Lsetxattr(p1, "user.k", []byte{byte(arg)}, 0)
	case 13:
		return writeFile(p1, 0, "") // opens for write: a copy-up, no change
	case 14:
		return unix.Mkfifo(p1, 0o644)
	case 15:
		return os.Link(pair, newName) // a new name for one name of a lower pair
	case 16:
		return os.Remove(pair) // one name of a lower pair unlinked
	default:
		return os.Rename(pair, newName) // one name of a lower pair renamed
	}
}

func writeFile(p string, flag int, data string) (err error) {
	// O_NONBLOCK: opening a fifo for writing must fail, not wait.
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|unix.O_NOFOLLOW|unix.O_NONBLOCK|flag, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = fh.WriteString(data)
	return err
}

// errnoOf reduces an error to its errno for comparing two roots.
func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if err == nil {
		return 0
	}
	if errors.As(err, &e) {
		return e
	}
	return unix.EIO
}

func FuzzChanges(f *testing.F) {
	seeds := [][]byte{
		{0, 0, 3},                                              // rewrite a dir: EISDIR
		{0, 15, 2, 2, 16, 0, 0, 16, 1},                         // new dir with a file
		{4, 0, 0, 2, 0, 0, 0, 1, 4},                            // rm -rf a; mkdir a; write a/f
		{3, 2, 0, 3, 1, 0, 4, 6, 0},                            // remove a/g (hidden), a/f, rm -rf b
		{5, 10, 3, 6, 11, 1, 8, 10, 15},                        // chmod c, chown c2, link c -> n
		{7, 15, 0, 0, 18, 1, 9, 7, 16},                         // symlink n -> a, write through s
		{13, 1, 0, 11, 1, 0, 11, 12, 1},                        // copy-ups without change
		{12, 1, 2, 12, 1, 3, 10, 11, 4},                        // xattr set and removed, truncate
		{14, 5, 0, 9, 8, 5, 4, 12, 0},                          // fifo, rename, rm -rf e
		{4, 6, 0, 2, 6, 0, 0, 7, 1, 3, 7, 0, 3, 6, 0, 0, 6, 0}, // opaque b recreated then made a file
		{15, 0, 0, 1, 10, 0},                                   // ln c n, then append through c
		{16, 0, 1, 0, 10, 0},                                   // rm c2, then rewrite c
		{17, 2, 1, 15, 2, 0},                                   // mv c2 c3, then ln c c3
	}
	for _, s := range seeds {
		f.Add(s)
	}
	requireRoot(f)
	lowerBase := f.TempDir()
	s := buildStack(f, lowerBase, fuzzLayers()...)
	f.Fuzz(func(t *testing.T, data []byte) {
		ops := decodeOps(data)
		run := func(root string) []unix.Errno {
			var errs []unix.Errno
			for _, o := range ops {
				errs = append(errs, errnoOf(o.apply(root)))
			}
			return errs
		}
		var ovErrs, cpErrs []unix.Errno
		ov, cp, upper, copyRoot := runStack(t, s, func(_ testing.TB, root string) { ovErrs = run(root) }, func(_ testing.TB, root string) { cpErrs = run(root) })
		if !reflect.DeepEqual(ovErrs, cpErrs) {
			t.Fatalf("ops %v failed differently\noverlay: %v\ncopy:    %v", ops, ovErrs, cpErrs)
		}
		if !reflect.DeepEqual(ov, cp) {
			t.Fatalf("ops %v: streams differ\noverlay: %v\ncopy:    %v", ops, ov, cp)
		}
		// The layers themselves, as bytes: mtimes the ops set at
		// different moments are clamped to the same epoch.
		epoch := baseTime
		var ovTar, cpTar bytes.Buffer
		must(t, layer.WriteTar(context.Background(), &ovTar, upper, Changes(upper, s), layer.TarOptions{SourceDateEpoch: &epoch}))
		must(t, layer.WriteTar(context.Background(), &cpTar, copyRoot, DirChanges(copyRoot, s), layer.TarOptions{SourceDateEpoch: &epoch}))
		if !bytes.Equal(ovTar.Bytes(), cpTar.Bytes()) {
			t.Fatalf("ops %v: same change stream, different layer bytes", ops)
		}
	})
}
