package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"time"

	"github.com/opencontainers/go-digest"
)

// IsURL reports whether an ADD source is a remote http(s) URL.
func IsURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Download is a fetched ADD URL held in a temporary file.
type Download struct {
	// Path is the temporary file holding the body; the caller removes it.
	Path string
	// Name is the file name the URL gives (Content-Disposition, else the
	// last path segment).
	Name string
	// ModTime comes from Last-Modified; zero when the server sent none.
	ModTime time.Time
	// Digest is the sha256 of the body.
	Digest digest.Digest
}

// Fetch downloads rawURL into a new file in tmpDir. When checksum is set the
// body must match it. A non-2xx status is an error naming the URL.
func Fetch(ctx context.Context, client *http.Client, rawURL, tmpDir string, checksum digest.Digest) (_ *Download, err error) {
	if client == nil {
		client = http.DefaultClient
	}
	if checksum != "" {
		if err := checksum.Validate(); err != nil {
			return nil, fmt.Errorf("ADD %s: --checksum %s: %w", rawURL, checksum, err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("ADD %s: server answered %s", rawURL, resp.Status)
	}
	f, err := os.CreateTemp(tmpDir, "download-*")
	if err != nil {
		return nil, fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("ADD %s: %w", rawURL, cerr)
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
		return nil, fmt.Errorf("ADD %s: downloading: %w", rawURL, err)
	}
	got := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
	if checksum != "" && checksum.Algorithm() == digest.SHA256 && got != checksum {
		return nil, fmt.Errorf("ADD %s: checksum mismatch: expected %s, got %s", rawURL, checksum, got)
	}
	if checksum != "" && checksum.Algorithm() != digest.SHA256 {
		if err := verifyOther(f.Name(), checksum); err != nil {
			return nil, fmt.Errorf("ADD %s: %w", rawURL, err)
		}
	}
	d := &Download{Path: f.Name(), Name: fileName(resp, rawURL), Digest: got}
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		if t, perr := http.ParseTime(lm); perr == nil {
			d.ModTime = t
		}
	}
	return d, nil
}

func verifyOther(p string, want digest.Digest) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	v := want.Verifier()
	if _, err := io.Copy(v, f); err != nil {
		return err
	}
	if !v.Verified() {
		return fmt.Errorf("checksum mismatch: expected %s", want)
	}
	return nil
}

// fileName picks the name docker gives a downloaded file.
func fileName(resp *http.Response, rawURL string) string {
	if cd := resp.Header.Get("Content-Disposition"); cd != "" {
		if _, params, err := mime.ParseMediaType(cd); err == nil {
			if n := path.Base(params["filename"]); n != "" && n != "." && n != "/" && n != ".." {
				return n
			}
		}
	}
	u, err := url.Parse(rawURL)
	if err == nil {
		if n := path.Base(u.Path); n != "" && n != "." && n != "/" && n != ".." {
			return n
		}
	}
	return "download"
}
