package executor_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/pkg/executor"
	"github.com/ocibuilder/builder/pkg/parser"
)

// TestRunSecurityInsecure: RUN --security=insecure is refused, naming the
// line and the fix, unless the build allows security.insecure; allowed,
// the step holds every capability of the builder (a sandboxed step holds
// Docker's default set) and may mount filesystems, which seccomp and the
// default set refuse.
func TestRunSecurityInsecure(t *testing.T) {
	requireSandbox(t)
	s := spec{base: busyboxBase(t), dockerfile: `FROM base
RUN --security=insecure grep CapEff /proc/self/status > /caps && mkdir /m && mount -t tmpfs tmpfs /m && echo mounted > /mounted
RUN --security=sandbox grep CapEff /proc/self/status > /caps.sandbox && (mkdir /m2 && mount -t tmpfs tmpfs /m2 2>/dev/null || echo refused > /refused)
`}
	_, err := runBuild(t, s, executor.SnapshotterOverlay, nil)
	var perr *parser.Error
	if !errors.As(err, &perr) || perr.Loc.Line != 2 || !strings.Contains(err.Error(), "--allow security.insecure") {
		t.Fatalf("without --allow: %v; want an error at line 2 naming --allow security.insecure", err)
	}
	for _, snap := range snapshotters() {
		r := mustRunBuild(t, s, snap, func(o *executor.Options) {
			o.Allow = []executor.Entitlement{executor.EntitlementSecurityInsecure}
		})
		if got := r.read(t, "caps.sandbox"); got != "CapEff:\t00000000a80425fb\n" {
			t.Errorf("%s: sandboxed step caps %q, want Docker's default set", snap, got)
		}
		if got := r.read(t, "caps"); got == r.read(t, "caps.sandbox") || !strings.HasPrefix(got, "CapEff:\t") {
			t.Errorf("%s: insecure step caps %q, want more than Docker's default set", snap, got)
		}
		r.wantFile(t, "mounted", "mounted\n")
		r.wantFile(t, "refused", "refused\n")
	}
}

func TestParseEntitlement(t *testing.T) {
	for _, v := range []string{"security.insecure", "network.host"} {
		if e, err := executor.ParseEntitlement(v); err != nil || string(e) != v {
			t.Errorf("ParseEntitlement(%q) = %q, %v", v, e, err)
		}
	}
	for _, v := range []string{"", "insecure", "device"} {
		if _, err := executor.ParseEntitlement(v); err == nil {
			t.Errorf("ParseEntitlement(%q) succeeded", v)
		}
	}
}
