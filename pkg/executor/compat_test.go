package executor_test

import (
	"testing"

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
