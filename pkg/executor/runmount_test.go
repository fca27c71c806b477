package executor

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/ocibuilder/builder/pkg/executor/sandbox"
	"github.com/ocibuilder/builder/pkg/parser"
)

func TestRunMounts(t *testing.T) {
	u64 := func(v uint64) *uint64 { return &v }
	str := func(v string) *string { return &v }
	secrets := map[string][]byte{"tok": []byte("v")}
	for _, tc := range []struct {
		name    string
		m       instructions.Mount
		want    stepMounts
		wantErr error
	}{
		{"default path", instructions.Mount{Type: "secret", CacheID: "tok"},
			stepMounts{secrets: []sandbox.SecretFile{{Path: "/run/secrets/tok", Data: []byte("v"), Mode: 0o400}}}, nil},
		{"id from target", instructions.Mount{Type: "secret", Target: "/x/tok", Mode: u64(0o444), UID: u64(3), GID: u64(4)},
			stepMounts{secrets: []sandbox.SecretFile{{Path: "/x/tok", Data: []byte("v"), Mode: 0o444, UID: 3, GID: 4}}}, nil},
		{"relative target", instructions.Mount{Type: "secret", Source: "tok", Target: "a/../b"},
			stepMounts{secrets: []sandbox.SecretFile{{Path: "/b", Data: []byte("v"), Mode: 0o400}}}, nil},
		{"env only", instructions.Mount{Type: "secret", CacheID: "tok", Env: str("T")},
			stepMounts{env: []string{"T=v"}}, nil},
		{"optional missing", instructions.Mount{Type: "secret", CacheID: "no"}, stepMounts{}, nil},
		{"optional missing env", instructions.Mount{Type: "secret", CacheID: "no", Env: str("T")}, stepMounts{env: []string{"T="}}, nil},
		{"required missing", instructions.Mount{Type: "secret", CacheID: "no", Required: true}, stepMounts{}, &SecretMissingError{ID: "no"}},
		{"unknown type", instructions.Mount{Type: "nfs", Target: "/c"}, stepMounts{}, &MountNotSupportedError{Type: "nfs"}},
		{"relative target under WORKDIR", instructions.Mount{Type: "secret", CacheID: "tok", Target: "k/secret1.txt"},
			stepMounts{secrets: []sandbox.SecretFile{{Path: "/test/k/secret1.txt", Data: []byte("v"), Mode: 0o400}}}, nil},
		{"id from a relative target under WORKDIR", instructions.Mount{Type: "secret", Target: "../tok"},
			stepMounts{secrets: []sandbox.SecretFile{{Path: "/tok", Data: []byte("v"), Mode: 0o400}}}, nil},
		{"absolute target ignores WORKDIR", instructions.Mount{Type: "secret", CacheID: "tok", Target: "/abs//tok"},
			stepMounts{secrets: []sandbox.SecretFile{{Path: "/abs/tok", Data: []byte("v"), Mode: 0o400}}}, nil},
		{"default path ignores WORKDIR", instructions.Mount{Type: "secret", CacheID: "tok"},
			stepMounts{secrets: []sandbox.SecretFile{{Path: "/run/secrets/tok", Data: []byte("v"), Mode: 0o400}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			workdir := ""
			if strings.Contains(tc.name, "WORKDIR") {
				workdir = "/test"
			}
			b := &builder{opts: Options{Secrets: secrets}}
			got, err := b.runMounts(&parser.Step{}, []*instructions.Mount{&tc.m}, workdir, io.Discard)
			if tc.wantErr != nil {
				if err == nil || err.Error() != tc.wantErr.Error() || reflect.TypeOf(errors.Unwrap(err)) != nil {
					t.Fatalf("error = %v; want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("= %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestWithEnv(t *testing.T) {
	got := withEnv([]string{"A=1", "B=2"}, []string{"B=s", "C=3"})
	if want := []string{"A=1", "B=s", "C=3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("= %q; want %q", got, want)
	}
}

func TestMountTarget(t *testing.T) {
	for _, tc := range []struct{ target, workdir, want string }{
		{"", "/w", ""},
		{"/abs", "/w", "/abs"},
		{"/a/../b/", "/w", "/b"},
		{"rel", "/w", "/w/rel"},
		{"rel", "", "/rel"},
		{"./x/../y", "/w/d", "/w/d/y"},
		{"../../../../up", "/w", "/up"},
	} {
		if got := mountTarget(tc.target, tc.workdir); got != tc.want {
			t.Errorf("mountTarget(%q, %q) = %q; want %q", tc.target, tc.workdir, got, tc.want)
		}
	}
}
