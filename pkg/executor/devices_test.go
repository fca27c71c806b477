package executor_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/oci"
	"golang.org/x/sys/unix"
)

// scratchDisk attaches a loop device over a scratch file that starts with a
// canary, standing in for a host disk, and returns the device's numbers,
// the canary and the file.
func scratchDisk(t *testing.T) (major, minor uint32, canary, file string) {
	t.Helper()
	canary = fmt.Sprintf("CANARY-%d-%s", os.Getpid(), t.Name())
	canary = strings.NewReplacer("/", "-", " ", "-").Replace(canary)
	file = filepath.Join(t.TempDir(), "disk.img")
	data := make([]byte, 1<<20)
	copy(data, canary)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", file).CombinedOutput()
	if err != nil {
		t.Fatalf("attaching a loop device (the test needs one): %v\n%s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("detaching %s: %v\n%s", dev, err, out)
		}
	})
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	return unix.Major(st.Rdev), unix.Minor(st.Rdev), canary, file
}

// blockDeviceTar is an archive holding one 0666 block device node.
func blockDeviceTar(t *testing.T, name string, major, minor uint32) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Typeflag: tar.TypeBlock, Name: name, Mode: 0o666, Devmajor: int64(major), Devminor: int64(minor)}
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// deviceProbe is a shell script printing, for each path, whether it could
// be read ("read LEAK" when the canary came through) and written.
func deviceProbe(canary string, paths ...string) string {
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, `if head -c 512 %[1]s 2>/dev/null | grep -q %[2]s; then echo "%[1]s read LEAK"; else echo "%[1]s read denied"; fi; `, p, canary)
		fmt.Fprintf(&b, `if printf X | dd of=%[1]s bs=1 count=1 conv=notrunc 2>/dev/null; then echo "%[1]s write LEAK"; else echo "%[1]s write denied"; fi; `, p)
	}
	return b.String()
}

// TestRunCannotOpenHostDevices checks that a RUN step cannot use a device
// node, whoever made it: a loop device over a scratch file with a canary
// stands in for a host disk. Its node comes from a base layer, an ADDed
// archive, mknod in an earlier step, and mknod in the step itself (on the
// root filesystem and in /dev), and is opened by root and by another user,
// for reading and writing. The nodes still land in the layers, and the
// standard devices keep working.
func TestRunCannotOpenHostDevices(t *testing.T) {
	requireSandbox(t)
	major, minor, canary, file := scratchDisk(t)
	mk := fmt.Sprintf("b %d %d", major, minor)
	for _, snap := range snapshotters() {
		t.Run(string(snap), func(t *testing.T) {
			ctx := context.Background()
			// The base image's own layer carries a node.
			first := mustRunBuild(t, spec{
				base:       busyboxBase(t),
				dockerfile: "FROM base\nRUN mknod /base-hd " + mk + " && chmod 666 /base-hd\n",
			}, snap, nil)
			baseDir := filepath.Join(t.TempDir(), "base")
			if err := oci.WriteLayout(ctx, first.img, baseDir, oci.WriteOptions{RefNames: []string{"base:latest"}}); err != nil {
				t.Fatal(err)
			}

			existing := []string{"/base-hd", "/added/hd", "/hd"}
			df := "FROM base\n" +
				"ADD dev.tar /added/\n" +
				"RUN mknod /hd " + mk + " && chmod 666 /hd\n" +
				"RUN (" + deviceProbe(canary, existing...) +
				"mknod /tmp/same " + mk + " && " + deviceProbe(canary, "/tmp/same") +
				"mknod /dev/indev " + mk + " && " + deviceProbe(canary, "/dev/indev") +
				") > /probe-root\n" +
				"RUN (echo x > /dev/null && echo null ok; head -c 1 /dev/urandom | wc -c; head -c 3 /dev/zero | wc -c; " +
				"head -c 2 /dev/random | wc -c; (echo x > /dev/full) 2>&1 | grep -q 'No space' && echo full ok; " +
				"exec 3<>/dev/ptmx && echo ptmx ok) > /standard\n" +
				"USER 65534:65534\n" +
				"RUN (" + deviceProbe(canary, existing...) + "echo x > /dev/null && echo null ok) > /tmp/probe-user\n"
			r := mustRunBuild(t, spec{
				base:       baseDir,
				context:    []testutil.Entry{testutil.File("dev.tar", blockDeviceTar(t, "hd", major, minor))},
				dockerfile: df,
			}, snap, nil)

			root := r.read(t, "/probe-root")
			for _, p := range append(existing, "/tmp/same", "/dev/indev") {
				for _, op := range []string{"read", "write"} {
					if want := p + " " + op + " denied\n"; !strings.Contains(root, want) {
						t.Errorf("as root: want %q in the probe:\n%s", want, root)
					}
				}
			}
			user := r.read(t, "/tmp/probe-user")
			for _, p := range existing {
				for _, op := range []string{"read", "write"} {
					if want := p + " " + op + " denied\n"; !strings.Contains(user, want) {
						t.Errorf("as user 65534: want %q in the probe:\n%s", want, user)
					}
				}
			}
			if !strings.Contains(user, "null ok\n") {
				t.Errorf("as user 65534, /dev/null is not writable:\n%s", user)
			}
			r.wantFile(t, "/standard", "null ok\n1\n3\n2\nfull ok\nptmx ok\n")

			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(data, []byte(canary)) {
				t.Errorf("the scratch disk was written to: starts with %q", data[:len(canary)])
			}

			// mknod itself works, and its node is part of the image.
			var found bool
			for _, e := range layerEntries(t, r, len(r.img.Layers)-4) {
				if e.Name == "hd" && e.Type == tar.TypeBlock {
					found = true
				}
			}
			if !found {
				t.Errorf("the layer of RUN mknod holds no block device hd: %s", dumpEntries(layerEntries(t, r, len(r.img.Layers)-4)))
			}
		})
	}
}
