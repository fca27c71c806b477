package gitsource

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
)

// checkoutOf resolves and checks out src from a real server.
func checkoutOf(t *testing.T, src string) (*Checkout, *Resolved, string) {
	t.Helper()
	s, isGit, err := Parse(src, nil, "")
	if err != nil || !isGit {
		t.Fatalf("Parse(%q): %v, %v", src, isGit, err)
	}
	g := New([]string{"PATH=" + os.Getenv("PATH")})
	res, err := g.Resolve(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	co, err := g.Checkout(context.Background(), s, res, tmp)
	if err != nil {
		t.Fatal(err)
	}
	return co, res, tmp
}

// TestCheckoutModes checks that checked out files have git's modes
// whatever the builder's umask, and that Remove leaves nothing.
func TestCheckoutModes(t *testing.T) {
	srv := testutil.StartGitServer(t, testutil.GitServerOptions{})
	repo := srv.NewRepo(t, "modes")
	repo.Commit(t, "first", nil,
		testutil.File("plain.txt", "plain\n"),
		testutil.Entry{Path: "bin/run.sh", Body: "#!/bin/sh\n", Mode: 0o700},
		testutil.Symlink("link", "plain.txt"))
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	co, _, tmp := checkoutOf(t, repo.HTTPURL())
	want := map[string]fs.FileMode{
		"plain.txt":  0o644,
		"bin":        fs.ModeDir | 0o755,
		"bin/run.sh": 0o755,
		"link":       fs.ModeSymlink | 0o777,
	}
	for p, m := range want {
		fi, err := os.Lstat(filepath.Join(co.Tree, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != m {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), m)
		}
	}
	if _, err := os.Lstat(filepath.Join(co.Tree, ".git")); err == nil {
		t.Error(".git is kept without KeepGitDir")
	}
	if err := co.Remove(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("Remove left %d entries in the scratch directory", len(ents))
	}
}

// TestCheckoutFailureLeavesNothing checks that a checkout that fails
// (a subdirectory through a symlink) removes what it wrote, and says why.
func TestCheckoutFailureLeavesNothing(t *testing.T) {
	srv := testutil.StartGitServer(t, testutil.GitServerOptions{})
	repo := srv.NewRepo(t, "sub")
	repo.Commit(t, "first", nil, testutil.File("d/f", "f\n"), testutil.Symlink("l", "d"))
	s, _, err := Parse(repo.HTTPURL()+"#main:l", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	g := New(nil)
	res, err := g.Resolve(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	_, err = g.Checkout(context.Background(), s, res, tmp)
	if err == nil || !strings.Contains(err.Error(), "l is not a directory") || !strings.Contains(err.Error(), repo.HTTPURL()) {
		t.Errorf("error %v, want one naming the URL and the symlink", err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("a failed checkout left %d entries in the scratch directory", len(ents))
	}
}
