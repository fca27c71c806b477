package gitsource

import (
	"strings"
	"testing"
)

// parsed is what TestParse compares of a Source.
type parsed struct {
	Remote, Ref, Subdir, Checksum       string
	KeepGitDir, Submodules, CommitMTime bool
}

func TestParse(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		src      string
		keep     *bool
		checksum string
		isGit    bool
		want     parsed
		err      string
	}{
		{src: "https://example.com/foo.git", isGit: true, want: parsed{Remote: "https://example.com/foo.git", Submodules: true}},
		{src: "https://example.com/foo.git#v1.2:sub/dir", isGit: true,
			want: parsed{Remote: "https://example.com/foo.git", Ref: "v1.2", Subdir: "sub/dir", Submodules: true}},
		{src: "https://example.com/foo.git#release/1.2", isGit: true,
			want: parsed{Remote: "https://example.com/foo.git", Ref: "release/1.2", Submodules: true}},
		{src: "http://example.com/foo.git#main", isGit: true, want: parsed{Remote: "http://example.com/foo.git", Ref: "main", Submodules: true}},
		{src: "git://example.com/foo", isGit: true, want: parsed{Remote: "git://example.com/foo", Submodules: true}},
		{src: "ssh://git@example.com:2222/foo", isGit: true, want: parsed{Remote: "ssh://git@example.com:2222/foo", Submodules: true}},
		{src: "git@github.com:moby/buildkit.git#main:docs", isGit: true,
			want: parsed{Remote: "git@github.com:moby/buildkit.git", Ref: "main", Subdir: "docs", Submodules: true}},
		{src: "https://example.com/foo.git#:../../x", isGit: true, want: parsed{Remote: "https://example.com/foo.git", Subdir: "x", Submodules: true}},
		{src: "https://example.com/foo.git?ref=v1&subdir=x&keep-git-dir=true&submodules=false&mtime=commit", isGit: true,
			want: parsed{Remote: "https://example.com/foo.git", Ref: "v1", Subdir: "x", KeepGitDir: true, CommitMTime: true}},
		{src: "https://example.com/foo.git?branch=dev", isGit: true, want: parsed{Remote: "https://example.com/foo.git", Ref: "refs/heads/dev", Submodules: true}},
		{src: "https://example.com/foo.git", keep: &yes, checksum: "ABC123", isGit: true,
			want: parsed{Remote: "https://example.com/foo.git", KeepGitDir: true, Checksum: "abc123", Submodules: true}},
		// Not git: local paths, plain URLs, github.com/... without a scheme.
		{src: "https://example.com/foo"},
		{src: "https://example.com/foo.git/"},
		{src: "github.com/moby/buildkit"},
		{src: "foo.txt"},
		{src: "./x.git"},
		{src: "ftp://example.com/foo.git"},
		{src: "git@example.com/foo.git"},
		// Errors.
		{src: "https://example.com/foo.git?keep-git-dir=true", keep: &no, isGit: true, err: "conflicts"},
		{src: "https://example.com/foo.git?checksum=abc", checksum: "def", isGit: true, err: "conflicts"},
		{src: "https://example.com/foo.git", checksum: "sha256:abc", isGit: true, err: "invalid checksum"},
		{src: "https://example.com/foo.git#-x", isGit: true, err: "invalid ref"},
		{src: "https://example.com/foo.git?bogus=1", isGit: true, err: "bogus"},
	}
	for _, tc := range tests {
		got, isGit, err := Parse(tc.src, tc.keep, tc.checksum)
		if isGit != tc.isGit {
			t.Errorf("Parse(%q): git %v, want %v", tc.src, isGit, tc.isGit)
			continue
		}
		if tc.err != "" || err != nil {
			if err == nil || !strings.Contains(err.Error(), tc.err) || tc.err == "" {
				t.Errorf("Parse(%q): error %v, want one mentioning %q", tc.src, err, tc.err)
			}
			continue
		}
		if !isGit {
			continue
		}
		g := parsed{Remote: got.Remote, Ref: got.Ref, Subdir: got.Subdir, Checksum: got.Checksum,
			KeepGitDir: got.KeepGitDir, Submodules: got.Submodules, CommitMTime: got.CommitMTime}
		if g != tc.want {
			t.Errorf("Parse(%q):\n got  %+v\n want %+v", tc.src, g, tc.want)
		}
	}
}

func TestCredentialsMasked(t *testing.T) {
	s, _, err := Parse("https://alice:s3cret@example.com/foo.git#main", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Name(); strings.Contains(n, "s3cret") || strings.Contains(n, "alice") || !strings.Contains(n, "example.com/foo.git#main") {
		t.Errorf("Name() = %q, want the URL with its credentials masked", n)
	}
	msg := s.mask("fatal: unable to access 'https://alice:s3cret@example.com/foo.git/': alice@ denied, s3cret wrong")
	if strings.Contains(msg, "s3cret") || strings.Contains(msg, "alice@") {
		t.Errorf("mask left credentials in %q", msg)
	}
	ssh, _, err := Parse("ssh://git@example.com/foo.git", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := ssh.mask("git fetch: no such git repository"); got != "git fetch: no such git repository" {
		t.Errorf("a user name masked words of the message: %q", got)
	}
}

func TestPickRef(t *testing.T) {
	const (
		a = "1111111111111111111111111111111111111111"
		b = "2222222222222222222222222222222222222222"
		c = "3333333333333333333333333333333333333333"
	)
	out := a + "\trefs/heads/v1\n" + b + "\trefs/tags/v1\n" + c + "\trefs/tags/v1^{}\n" + b + "\trefs/tags/rel\n" + c + "\trefs/tags/rel^{}\n"
	tests := []struct {
		ref  string
		want Resolved
	}{
		{"v1", Resolved{Ref: "refs/heads/v1", Object: a, Commit: a}},            // a branch wins over a tag
		{"refs/tags/v1", Resolved{Ref: "refs/tags/v1", Object: b, Commit: c}},   // unless the tag is named in full
		{"rel", Resolved{Ref: "refs/tags/rel", Object: b, Commit: c}},           // an annotated tag's commit
		{"heads/v1", Resolved{Ref: "refs/heads/v1", Object: a, Commit: a}},      // a partial name
		{"refs/heads/v1", Resolved{Ref: "refs/heads/v1", Object: a, Commit: a}}, // a full name
	}
	for _, tc := range tests {
		got, err := pickRef(out, tc.ref)
		if err != nil || *got != tc.want {
			t.Errorf("pickRef(%q) = %+v, %v; want %+v", tc.ref, got, err, tc.want)
		}
	}
	if _, err := pickRef(out, "nope"); err == nil || !strings.Contains(err.Error(), `no branch or tag "nope"`) {
		t.Errorf("unknown ref: error %v", err)
	}
	head := "ref: refs/heads/main\tHEAD\n" + a + "\tHEAD\n"
	if got, err := pickRef(head, ""); err != nil || got.Ref != "refs/heads/main" || got.Commit != a {
		t.Errorf("default branch: %+v, %v", got, err)
	}
}
