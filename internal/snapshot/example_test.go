package snapshot_test

import (
	"context"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ocibuilder/builder/internal/snapshot"
	"github.com/ocibuilder/builder/pkg/layer"
)

// mkLayer creates a layer directory with the given files ("dir/" for a
// directory, "name->target" for a symlink).
func mkLayer(dir string, entries ...string) {
	for _, e := range entries {
		var err error
		switch name, target, isLink := cut(e); {
		case isLink:
			err = os.Symlink(target, filepath.Join(dir, name))
		case name[len(name)-1] == '/':
			err = os.MkdirAll(filepath.Join(dir, name), 0o755)
		default:
			err = os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644)
		}
		if err != nil {
			log.Fatal(err)
		}
	}
}

// age gives everything under dir an old mtime, as layers extracted from a
// tar have, so that entries a step writes differ even on filesystems with
// coarse timestamps.
func age(dir string) {
	old := unix.NsecToTimespec(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{old, old}, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		log.Fatal(err)
	}
}

func cut(e string) (name, target string, ok bool) {
	for i := 0; i+1 < len(e); i++ {
		if e[i:i+2] == "->" {
			return e[:i], e[i+2:], true
		}
	}
	return e, "", false
}

func printChanges(ch layer.Changes) {
	err := ch(context.Background(), func(k layer.ChangeKind, p string, _ fs.FileInfo) error {
		fmt.Println(k, p)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}

func ExampleStack_Resolve() {
	base, err := os.MkdirTemp("", "stack")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(base)
	low, high := filepath.Join(base, "low"), filepath.Join(base, "high")
	mkLayer(base, "low/", "high/")
	mkLayer(low, "usr/", "usr/bin/", "usr/bin/sh", "bin->usr/bin")
	mkLayer(high, "etc/", "etc/shell->/bin/sh", "escape->../../../../etc")

	s := snapshot.NewStack(low, high)
	for _, p := range []string{"/etc/shell", "escape/passwd", "bin/new/file"} {
		r, err := s.Resolve(p, true)
		fmt.Printf("%s -> %q %v\n", p, r, err)
	}
	// Output:
	// /etc/shell -> "usr/bin/sh" <nil>
	// escape/passwd -> "etc/passwd" <nil>
	// bin/new/file -> "usr/bin/new/file" <nil>
}

func ExampleStack_ReadDir() {
	base, err := os.MkdirTemp("", "stack")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(base)
	mkLayer(base, "low/", "low/etc/", "low/etc/passwd", "high/", "high/etc/", "high/etc/group")

	s := snapshot.NewStack(filepath.Join(base, "low"), filepath.Join(base, "high"))
	ents, err := s.ReadDir("/etc")
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range ents {
		host, _ := s.HostPath("etc/" + e.Name())
		rel, _ := filepath.Rel(base, host)
		fmt.Println(e.Name(), "from", rel)
	}
	// Output:
	// group from high/etc/group
	// passwd from low/etc/passwd
}

func ExampleChanges() {
	base, err := os.MkdirTemp("", "stack")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(base)
	mkLayer(base, "low/", "low/etc/", "low/etc/passwd", "upper/", "upper/etc/", "upper/etc/passwd", "upper/b.txt", "upper/a/", "upper/a/x")
	age(filepath.Join(base, "low"))

	// An overlayfs upper directory, as a mount with lowerdir=low leaves it.
	printChanges(snapshot.Changes(filepath.Join(base, "upper"), snapshot.NewStack(filepath.Join(base, "low"))))
	// Output:
	// add a
	// add a/x
	// add b.txt
	// modify etc
	// modify etc/passwd
}

func ExampleDirChanges() {
	base, err := os.MkdirTemp("", "stack")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(base)
	mkLayer(base, "low/", "low/etc/", "low/etc/passwd", "low/etc/group")
	age(filepath.Join(base, "low"))
	s := snapshot.NewStack(filepath.Join(base, "low"))

	root := filepath.Join(base, "rootfs")
	if err := snapshot.Materialize(context.Background(), s, root); err != nil {
		log.Fatal(err)
	}
	// What a step run in the copy might do.
	if err := os.Remove(filepath.Join(root, "etc/group")); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "hello"), []byte("hi"), 0o644); err != nil {
		log.Fatal(err)
	}
	printChanges(snapshot.DirChanges(root, s))
	// Output:
	// modify etc
	// delete etc/group
	// add hello
}
