package executor_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
)

// layerBaseEntries is what the layer scenarios change, on top of busybox.
func layerBaseEntries(seed string) []testutil.Entry {
	return []testutil.Entry{
		file("data/seed", seed),
		testutil.Dir("data"),
		file("data/mod", "old\n"),
		file("data/chmod", "c\n"),
		file("data/chown", "o\n"),
		file("data/del", "d\n"),
		file("data/lowerlink", "l\n"),
		file("data/pair1", "p\n"),
		{Path: "data/pair2", HardLink: "data/pair1"},
		testutil.Symlink("data/sym", "mod"),
		file("olddir/a", "a\n"),
		file("olddir/b", "b\n"),
		file("olddir/sub/c", "c\n"),
		file("swap/d/x", "x\n"),
		file("swap/f", "f\n"),
		file("swap/dd/x", "x\n"),
	}
}

// TestRunLayerContent checks the layer a RUN step commits, entry by entry,
// and that both snapshotters commit it byte for byte the same.
func TestRunLayerContent(t *testing.T) {
	requireSandbox(t)
	seed := string(randomBytes(t, 1<<20))
	base := busyboxBase(t, layerBaseEntries(seed)...)
	const bigSize = 50 << 20
	tests := []struct {
		name string
		run  string
		want []layerEntry
		// check, when set, replaces the comparison with want.
		check func(t *testing.T, got []layerEntry)
	}{
		{
			name: "file created",
			run:  "echo new > /data/new",
			want: []layerEntry{tDir("data", 0o755), tReg("data/new", 0o644, "new\n")},
		},
		{
			name: "file modified",
			run:  "echo changed > /data/mod",
			want: []layerEntry{tDir("data", 0o755), tReg("data/mod", 0o644, "changed\n")},
		},
		{
			name: "chmod only",
			run:  "chmod 0600 /data/chmod",
			want: []layerEntry{tDir("data", 0o755), tReg("data/chmod", 0o600, "c\n")},
		},
		{
			name: "chown only",
			run:  "chown 1000:10 /data/chown",
			want: []layerEntry{tDir("data", 0o755), tReg("data/chown", 0o644, "o\n").owned(1000, 10)},
		},
		{
			name: "file deleted from a lower layer",
			run:  "rm /data/del",
			want: []layerEntry{tDir("data", 0o755), tWhiteout("data", "del")},
		},
		{
			name: "directory removed and made again",
			run:  "rm -rf /olddir && mkdir /olddir && echo new > /olddir/f",
			want: []layerEntry{
				tDir("olddir", 0o755),
				tWhiteout("olddir", "a"),
				tWhiteout("olddir", "b"),
				tReg("olddir/f", 0o644, "new\n"),
				tWhiteout("olddir", "sub"),
			},
		},
		{
			name: "directory replaced by a file",
			run:  "rm -rf /swap/d && echo file > /swap/d",
			want: []layerEntry{tDir("swap", 0o755), tReg("swap/d", 0o644, "file\n")},
		},
		{
			name: "file replaced by a directory",
			run:  "rm /swap/f && mkdir /swap/f && echo in > /swap/f/x",
			want: []layerEntry{tDir("swap", 0o755), tDir("swap/f", 0o755), tReg("swap/f/x", 0o644, "in\n")},
		},
		{
			name: "directory replaced by a file and back",
			run:  "rm -rf /swap/dd && echo f > /swap/dd && rm /swap/dd && mkdir /swap/dd && echo n > /swap/dd/new",
			want: []layerEntry{
				tDir("swap", 0o755),
				tDir("swap/dd", 0o755),
				tReg("swap/dd/new", 0o644, "n\n"),
				tWhiteout("swap/dd", "x"),
			},
		},
		{
			name: "hard links made in the step",
			run:  "mkdir /hl && echo x > /hl/a && ln /hl/a /hl/b",
			want: []layerEntry{tDir("hl", 0o755), tReg("hl/a", 0o644, "x\n"), tHardlink("hl/b", 0o644, "hl/a")},
		},
		{
			// Both names of the inode, the second as a link to the
			// first: the image keeps the hard link.
			name: "hard link to a lower file",
			run:  "ln /data/lowerlink /data/newlink",
			want: []layerEntry{tDir("data", 0o755), tReg("data/lowerlink", 0o644, "l\n"), tHardlink("data/newlink", 0o644, "data/lowerlink")},
		},
		{
			name: "one name of a lower hard link pair changed",
			run:  "echo more >> /data/pair1",
			want: []layerEntry{tDir("data", 0o755), tReg("data/pair1", 0o644, "p\nmore\n")},
		},
		{
			// The step's view has pair1 and pair3 as one inode (the
			// copy-up of pair1), pair2 as another: the layer holds both
			// names of the new inode, whatever the lower link count.
			name: "new name for one name of a lower hard link pair",
			run:  "ln /data/pair1 /data/pair3",
			want: []layerEntry{tDir("data", 0o755), tReg("data/pair1", 0o644, "p\n"), tHardlink("data/pair3", 0o644, "data/pair1")},
		},
		{
			name: "one name of a lower hard link pair removed",
			run:  "rm /data/pair2",
			want: []layerEntry{tDir("data", 0o755), tWhiteout("data", "pair2")},
		},
		{
			name: "one name of a lower hard link pair renamed",
			run:  "mv /data/pair2 /data/pair3",
			want: []layerEntry{tDir("data", 0o755), tWhiteout("data", "pair2"), tReg("data/pair3", 0o644, "p\n")},
		},
		{
			name: "directory removed",
			run:  "rm -rf /olddir",
			want: []layerEntry{tWhiteout("", "olddir")},
		},
		{
			name: "symlinks",
			run:  "ln -s ../data/mod /data/newsym && ln -sfn /etc/passwd /data/sym",
			want: []layerEntry{tDir("data", 0o755), tSymlink("data/newsym", "../data/mod"), tSymlink("data/sym", "/etc/passwd")},
		},
		{
			name: "setuid, setgid and sticky bits",
			run:  "echo s > /data/suid && chmod 4755 /data/suid && mkdir /data/sticky /data/sgid && chmod 1777 /data/sticky && chmod 2750 /data/sgid",
			want: []layerEntry{
				tDir("data", 0o755),
				tDir("data/sgid", 0o2750),
				tDir("data/sticky", 0o1777),
				tReg("data/suid", 0o4755, "s\n"),
			},
		},
		{
			name: "large file",
			// The seed makes the content random but the same for both
			// snapshotters, whose digests must match.
			run: fmt.Sprintf("for i in $(seq %d); do cat /data/seed; done > /big && sha256sum /big > /big.sha", bigSize/len(seed)),
			check: func(t *testing.T, got []layerEntry) {
				if len(got) != 2 || got[0].Name != "big" || got[1].Name != "big.sha" {
					t.Fatalf("layer holds %v, want big and big.sha", names(got))
				}
				if got[0].Size != bigSize {
					t.Errorf("big has %d bytes in the layer, want %d", got[0].Size, bigSize)
				}
				sum, _, _ := strings.Cut(got[1].Body, " ")
				if want := "sha256:" + sum; got[0].Body != want {
					t.Errorf("big in the layer has %s, the step wrote %s", got[0].Body, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := spec{base: base, epoch: runEpoch(), dockerfile: "FROM base\nRUN " + tt.run + "\n"}
			var digests []string
			for _, snap := range snapshotters() {
				r := mustRunBuild(t, s, snap, nil)
				if n := len(r.img.Layers); n != 2 {
					t.Fatalf("%s: image has %d layers, want the base and the step's", snap, n)
				}
				got := lastLayer(t, r)
				for _, e := range got {
					if e.ModTime.After(*runEpoch()) {
						t.Errorf("%s: %s has mtime %v after SOURCE_DATE_EPOCH", snap, e.Name, e.ModTime)
					}
				}
				if tt.check != nil {
					tt.check(t, got)
				} else if !slices.EqualFunc(got, tt.want, sameEntry) {
					t.Errorf("%s: layer entries:\n%s\nwant:\n%s", snap, dumpEntries(got), dumpEntries(tt.want))
				}
				digests = append(digests, r.img.Layers[1].Digest.String()+" "+manifestDigest(t, r))
			}
			if digests[0] != digests[1] {
				t.Errorf("layer and manifest digests differ between snapshotters:\noverlay %s\ncopy    %s", digests[0], digests[1])
			}
		})
	}
}

// TestRunWithoutChanges checks that a RUN step that changes nothing adds
// no layer, only a history entry marked empty.
func TestRunWithoutChanges(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	df := "FROM base\nRUN true\nRUN cat /etc/passwd /etc/hosts >/dev/null && ls /tmp /proc/self >/dev/null\n"
	for _, snap := range snapshotters() {
		t.Run(string(snap), func(t *testing.T) {
			t.Parallel()
			r := mustRunBuild(t, spec{base: base, epoch: runEpoch(), dockerfile: df}, snap, nil)
			if n := len(r.img.Layers); n != 1 {
				t.Errorf("image has %d layers, want only the base's", n)
			}
			h := r.img.Config.History
			if len(h) != 3 {
				t.Fatalf("history has %d entries, want 3: %+v", len(h), h)
			}
			for _, e := range h[1:] {
				if !e.EmptyLayer || !strings.Contains(e.CreatedBy, "RUN") {
					t.Errorf("history entry %+v: want an empty_layer RUN entry", e)
				}
			}
		})
	}
}

// TestRunSandboxArtefacts checks that what the sandbox adds to a step's
// root filesystem (/etc/hosts, /etc/resolv.conf, /etc/hostname and the
// /proc, /dev and /sys mountpoints, with /etc itself when the base lacks
// it) never reaches a layer, whatever the base holds.
func TestRunSandboxArtefacts(t *testing.T) {
	requireSandbox(t)
	bases := []struct {
		name string
		o    testutil.BusyboxOptions
	}{
		{"no /etc at all", testutil.BusyboxOptions{}},
		{"/etc without hosts", testutil.BusyboxOptions{Users: true}},
		{"complete", testutil.BusyboxOptions{Users: true, Mountpoints: true}},
	}
	const see = "cat /etc/hosts /etc/resolv.conf /etc/hostname > /seen && ls -d /proc/self /dev/null /sys/kernel >> /seen"
	for _, b := range bases {
		base := testutil.ImageLayout(t, testutil.BusyboxEntries(t, b.o)...)
		for _, snap := range snapshotters() {
			t.Run(b.name+"/"+string(snap), func(t *testing.T) {
				t.Parallel()
				df := "FROM base\nRUN " + see + "\nRUN mkdir -p /etc && echo a > /etc/added\n"
				r := mustRunBuild(t, spec{base: base, epoch: runEpoch(), dockerfile: df}, snap, nil)
				if n := len(r.img.Layers); n != 3 {
					t.Fatalf("image has %d layers, want 3", n)
				}
				seen := layerEntries(t, r, 1)
				if len(seen) != 1 || seen[0].Name != "seen" || !strings.Contains(seen[0].Body, "sandbox") || !strings.Contains(seen[0].Body, "/sys/kernel") {
					t.Errorf("layer of the step that only reads the sandbox files:\n%s", dumpEntries(seen))
				}
				want := []layerEntry{tDir("etc", 0o755), tReg("etc/added", 0o644, "a\n")}
				if got := layerEntries(t, r, 2); !slices.EqualFunc(got, want, sameEntry) {
					t.Errorf("layer of the step that writes into /etc:\n%s\nwant:\n%s", dumpEntries(got), dumpEntries(want))
				}
				for _, p := range []string{"/etc/hosts", "/etc/hostname", "/proc", "/dev", "/sys"} {
					if exists := r.exists(p); exists != b.o.Mountpoints {
						t.Errorf("image has %s: %v, want %v", p, exists, b.o.Mountpoints)
					}
				}
				if r.exists("/etc/resolv.conf") {
					t.Error("image has /etc/resolv.conf, which no base has")
				}
				if b.o.Mountpoints {
					r.wantFile(t, "/etc/hosts", "image hosts\n")
				}
			})
		}
	}
}

// TestRunLayerStacking checks steps that build on what earlier RUN steps
// committed: the overlay snapshotter stacks its upper directories (with
// overlayfs's own whiteouts and opaque directories) where the copy
// snapshotter stacks layers extracted from their blobs, and both must see
// the same filesystem and commit the same layers.
func TestRunLayerStacking(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t, layerBaseEntries("seed")...)
	tests := []struct {
		name  string
		df    string // after FROM base
		want  []layerEntry
		files map[string]string
	}{
		{
			name: "directory made again, then changed",
			df:   "RUN rm -rf /olddir && mkdir /olddir && echo new > /olddir/f\nRUN ls -A /olddir > /listing && echo g > /olddir/g\n",
			want: []layerEntry{tReg("listing", 0o644, "f\n"), tDir("olddir", 0o755), tReg("olddir/g", 0o644, "g\n")},
		},
		{
			name: "file deleted, then made again",
			df:   "RUN rm /data/del\nRUN test ! -e /data/del && echo again > /data/del\n",
			want: []layerEntry{tDir("data", 0o755), tReg("data/del", 0o644, "again\n")},
		},
		{
			name: "directory replaced by a file, then by a directory",
			df:   "RUN rm -rf /swap/d && echo file > /swap/d\nRUN rm /swap/d && mkdir /swap/d && ls -A /swap/d > /listing\n",
			want: []layerEntry{tReg("listing", 0o644, ""), tDir("swap", 0o755), tDir("swap/d", 0o755)},
		},
		{
			name:  "COPY between RUN steps",
			df:    "RUN mkdir /c && echo 1 > /c/a\nCOPY b /c/b\nRUN cat /c/a /c/b > /c/all\n",
			want:  []layerEntry{tDir("c", 0o755), tReg("c/all", 0o644, "1\n2\n")},
			files: map[string]string{"/c/a": "1\n", "/c/b": "2\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := spec{base: base, epoch: runEpoch(), dockerfile: "FROM base\n" + tt.df, context: []testutil.Entry{file("b", "2\n")}}
			var digests []string
			for _, snap := range snapshotters() {
				r := mustRunBuild(t, s, snap, nil)
				if got := lastLayer(t, r); !slices.EqualFunc(got, tt.want, sameEntry) {
					t.Errorf("%s: last layer:\n%s\nwant:\n%s", snap, dumpEntries(got), dumpEntries(tt.want))
				}
				for p, body := range tt.files {
					r.wantFile(t, p, body)
				}
				digests = append(digests, manifestDigest(t, r))
			}
			if digests[0] != digests[1] {
				t.Errorf("manifest digests differ between snapshotters: overlay %s, copy %s", digests[0], digests[1])
			}
		})
	}
}
