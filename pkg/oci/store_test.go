package oci

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestStoreCommit(t *testing.T) {
	data := []byte("some blob content")
	good := digest.FromBytes(data)
	other := digest.FromString("other")
	tests := []struct {
		name     string
		expected digest.Digest
		wantErr  error // nil, ErrInvalid or a *DigestMismatchError
		stored   bool
	}{
		{name: "no expectation", expected: "", stored: true},
		{name: "matching", expected: good, stored: true},
		{name: "mismatch", expected: other, wantErr: &DigestMismatchError{}},
		{name: "malformed", expected: "sha256:xyz", wantErr: ErrInvalid},
		{name: "unsupported algorithm", expected: digest.Digest("sha512:" + strings.Repeat("ab", 64)), wantErr: ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			w, err := s.Writer(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(data); err != nil {
				t.Fatal(err)
			}
			d, n, err := w.Commit(tc.expected)
			switch want := tc.wantErr.(type) {
			case nil:
				if err != nil {
					t.Fatal(err)
				}
				if d != good || n != int64(len(data)) {
					t.Fatalf("Commit = %s %d, want %s %d", d, n, good, len(data))
				}
			case *DigestMismatchError:
				var got *DigestMismatchError
				if !errors.As(err, &got) {
					t.Fatalf("err = %v, want DigestMismatchError", err)
				}
				if got.Expected != tc.expected || got.Actual != good {
					t.Fatalf("mismatch error = %+v", got)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if s.Has(good) != tc.stored {
				t.Fatalf("Has = %v, want %v", s.Has(good), tc.stored)
			}
			if tc.expected != "" && tc.expected != good && s.Has(tc.expected) {
				t.Fatal("blob stored under the wrong digest")
			}
			if left := tmpEntries(t, s); len(left) != 0 {
				t.Fatalf("ingest files left behind: %v", left)
			}
			if tc.stored {
				fi, err := os.Stat(s.Path(good))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o444 {
					t.Fatalf("blob mode = %v, want read-only", fi.Mode().Perm())
				}
			}
		})
	}
}

func TestStoreWriterClose(t *testing.T) {
	s := newStore(t)
	w, err := s.Writer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("abandoned")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s.Has(digest.FromString("abandoned")) {
		t.Fatal("closed writer stored its blob")
	}
	if left := tmpEntries(t, s); len(left) != 0 {
		t.Fatalf("ingest files left behind: %v", left)
	}
	if _, _, err := w.Commit(""); err == nil {
		t.Fatal("Commit after Close succeeded")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

func TestStoreWriterCanceled(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := s.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cancel()
	if _, err := w.Write([]byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write err = %v, want context.Canceled", err)
	}
	if _, _, err := w.Commit(""); !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit err = %v, want context.Canceled", err)
	}
	if left := tmpEntries(t, s); len(left) != 0 {
		t.Fatalf("ingest files left behind: %v", left)
	}
}

func TestStoreConcurrentCommit(t *testing.T) {
	s := newStore(t)
	data := bytes.Repeat([]byte("concurrent "), 10000)
	want := digest.FromBytes(data)
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := s.Writer(context.Background())
			if err != nil {
				errs <- err
				return
			}
			defer w.Close()
			// Small writes interleave the writers as much as possible.
			for off := 0; off < len(data); off += 4096 {
				if _, err := w.Write(data[off:min(off+4096, len(data))]); err != nil {
					errs <- err
					return
				}
			}
			d, _, err := w.Commit(want)
			if err == nil && d != want {
				err = errors.New("wrong digest " + d.String())
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ReadAll(want, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("stored content differs")
	}
	if left := tmpEntries(t, s); len(left) != 0 {
		t.Fatalf("ingest files left behind: %v", left)
	}
}

func TestStoreOpenDetectsTampering(t *testing.T) {
	data := []byte("trusted content\n")
	tests := []struct {
		name   string
		tamper func(t *testing.T, path string)
	}{
		{name: "same size", tamper: func(t *testing.T, p string) { rewrite(t, p, []byte("trusted CONTENT\n")) }},
		{name: "truncated", tamper: func(t *testing.T, p string) { rewrite(t, p, data[:5]) }},
		{name: "extended", tamper: func(t *testing.T, p string) { rewrite(t, p, append(append([]byte{}, data...), 'x')) }},
		{name: "emptied", tamper: func(t *testing.T, p string) { rewrite(t, p, nil) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			desc, err := s.Put(context.Background(), "text/plain", data)
			if err != nil {
				t.Fatal(err)
			}
			tc.tamper(t, s.Path(desc.Digest))
			rc, err := s.Open(desc.Digest)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(rc)
			if cerr := rc.Close(); cerr != nil {
				t.Fatal(cerr)
			}
			var mismatch *DigestMismatchError
			if !errors.As(err, &mismatch) {
				t.Fatalf("reading tampered blob: err = %v, want DigestMismatchError", err)
			}
			if _, err := s.ReadAll(desc.Digest, 1<<20); !errors.As(err, &mismatch) {
				t.Fatalf("ReadAll of tampered blob: err = %v, want DigestMismatchError", err)
			}
		})
	}
}

// rewrite replaces a (read-only) file's content in place, as an outside
// process damaging the store would.
func rewrite(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestStoreReadAll(t *testing.T) {
	s := newStore(t)
	data := []byte("0123456789")
	desc, err := s.Put(context.Background(), "text/plain", data)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		d       digest.Digest
		max     int64
		wantErr error
	}{
		{name: "exact limit", d: desc.Digest, max: 10},
		{name: "over limit", d: desc.Digest, max: 9, wantErr: ErrTooLarge},
		{name: "missing", d: digest.FromString("missing"), max: 10, wantErr: ErrNotFound},
		{name: "path traversal", d: "sha256:../../../../etc/passwd", max: 10, wantErr: ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ReadAll(tc.d, tc.max)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && !bytes.Equal(got, data) {
				t.Fatalf("ReadAll = %q", got)
			}
		})
	}
}

func TestStoreRejectsInvalidDigests(t *testing.T) {
	s := newStore(t)
	for _, d := range []digest.Digest{"", "sha256:../x", digest.Digest("sha256:A" + digest.FromString("x").Encoded()[1:]), "md5:d41d8cd98f00b204e9800998ecf8427e"} {
		t.Run(string(d), func(t *testing.T) {
			if p := s.Path(d); p != "" {
				t.Fatalf("Path(%q) = %q, want empty", d, p)
			}
			if s.Has(d) {
				t.Fatal("Has reported an invalid digest present")
			}
			if _, err := s.Open(d); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Open err = %v, want ErrInvalid", err)
			}
		})
	}
}
