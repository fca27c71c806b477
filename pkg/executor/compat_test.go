package executor_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/internal/testutil"
	"github.com/ocibuilder/builder/pkg/executor"
)

// TestRunMountRelativeTarget: a relative RUN --mount target is joined to
// the step's working directory, as BuildKit does, so the secret is at
// /test/secret1.txt and nothing is mounted at /secret1.txt.
func TestRunMountRelativeTarget(t *testing.T) {
	requireSandbox(t)
	base := busyboxBase(t)
	r := mustRunBuild(t, spec{
		dockerfile: "FROM base\nWORKDIR /test\n" +
			"RUN --mount=type=secret,id=s1,target=secret1.txt cat /test/secret1.txt > /out && " +
			"if [ -e /secret1.txt ]; then echo at-root >> /out; fi\n",
		base: base, noContext: true,
	}, "", func(o *executor.Options) {
		o.Secrets = map[string][]byte{"s1": []byte("s3cr3t")}
	})
	r.wantFile(t, "/out", "s3cr3t")
	if r.exists("/test/secret1.txt") {
		t.Error("the secret's mountpoint /test/secret1.txt reached the image")
	}
}

// TestWorkdirOwnerAsBuildKit: WORKDIR creates its directory even when USER
// names a user or group the image lacks, or the image has no /etc/passwd;
// the owner is what BuildKit's mkdir gives it: an unknown user is 0, an
// unknown group is the user's group, and "root" and numbers need no files.
func TestWorkdirOwnerAsBuildKit(t *testing.T) {
	base := testutil.BaseLayout(t)
	for _, tc := range []struct {
		name, df string
		uid, gid uint32
	}{
		{"unknown user", "FROM base\nUSER guest\nWORKDIR /app\n", 0, 0},
		{"unknown user with a known group", "FROM base\nUSER guest:staff\nWORKDIR /app\n", 0, 50},
		{"known user with an unknown group", "FROM base\nUSER app:nogroup\nWORKDIR /app\n", 1000, 1000},
		{"numeric user with an unknown group", "FROM base\nUSER 1234:nogroup\nWORKDIR /app\n", 1234, 1234},
		{"known user and group", "FROM base\nUSER www:staff\nWORKDIR /app\n", 33, 50},
		{"root without /etc/passwd", "FROM scratch\nUSER root\nWORKDIR /x\n", 0, 0},
		{"root:root without /etc/group", "FROM scratch\nUSER root:root\nWORKDIR /x\n", 0, 0},
		{"a name without /etc/passwd", "FROM scratch\nUSER guest\nWORKDIR /x\n", 0, 0},
		{"numeric without /etc/passwd", "FROM scratch\nUSER 7:8\nWORKDIR /x\n", 7, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := build(t, spec{dockerfile: tc.df, base: base, noContext: true})
			dir := r.img.Config.Config.WorkingDir
			if !r.lstat(t, dir).IsDir() {
				t.Fatalf("%s is not a directory", dir)
			}
			if uid, gid := r.owner(t, dir); uid != tc.uid || gid != tc.gid {
				t.Errorf("%s owned by %d:%d, want %d:%d", dir, uid, gid, tc.uid, tc.gid)
			}
		})
	}
}

// TestRunUnknownUser: a USER name the image lacks is an error only when a
// process runs as it, and the error names the RUN line.
func TestRunUnknownUser(t *testing.T) {
	requireSandbox(t)
	err, pe := buildErr(t, spec{dockerfile: "FROM base\nUSER guest\nWORKDIR /app\nRUN true\n", base: busyboxBase(t), noContext: true})
	if pe.Loc.Line != 4 {
		t.Errorf("error %v names line %d, want 4 (the RUN)", err, pe.Loc.Line)
	}
	if !strings.Contains(err.Error(), `unknown user "guest"`) {
		t.Errorf("error %v does not name the unknown user", err)
	}
}

// TestRunUserGroups: the groups a RUN step's process holds are BuildKit's:
// the primary group and the /etc/group memberships of the user,
// which only count when USER names no group.
func TestRunUserGroups(t *testing.T) {
	requireSandbox(t)
	df := "FROM base\n"
	for i, u := range []string{"app", "4321", "1000:0", "app:wheel", "root"} {
		df += fmt.Sprintf("USER %s\nRUN grep -E '^(Uid|Gid|Groups):' /proc/self/status | tr -s '\\t ' ' ' > /tmp/%d\n", u, i)
	}
	r := mustRunBuild(t, spec{dockerfile: df, base: busyboxBase(t), noContext: true}, "", nil)
	for i, want := range []string{
		"Uid: 1000 1000 1000 1000\nGid: 1000 1000 1000 1000\nGroups: 10 1000 \n",
		"Uid: 4321 4321 4321 4321\nGid: 0 0 0 0\nGroups: 0 \n",
		"Uid: 1000 1000 1000 1000\nGid: 0 0 0 0\nGroups: 0 \n",
		"Uid: 1000 1000 1000 1000\nGid: 10 10 10 10\nGroups: 10 \n",
		"Uid: 0 0 0 0\nGid: 0 0 0 0\nGroups: 0 \n",
	} {
		r.wantFile(t, fmt.Sprintf("/tmp/%d", i), want)
	}
}
