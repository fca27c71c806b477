package remote

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/ocibuilder/builder/pkg/oci"
)

// progressStep is how many bytes pass between two progress reports.
const progressStep = 1 << 20

// fetcher downloads blobs of one repository into a store.
type fetcher struct {
	puller *remote.Puller
	repo   name.Repository
	store  *oci.Store
	opts   Options
	rep    *reporter
}

// fetchAll downloads the distinct blobs among descs that the store lacks,
// several at a time.
func (f *fetcher) fetchAll(ctx context.Context, descs []ocispec.Descriptor) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(f.opts.jobs())
	seen := map[digest.Digest]bool{}
	for _, d := range descs {
		if seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		if f.store.Has(d.Digest) {
			f.rep.report(d.Digest, ActionExists, d.Size, d.Size)
			continue
		}
		g.Go(func() error {
			if err := retry(gctx, f.opts, func() error { return f.fetchOnce(gctx, d) }); err != nil {
				return fmt.Errorf("fetching blob %s: %w", d.Digest, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// fetchOnce downloads blob d into the store. Nothing is committed unless
// the whole blob arrived and matches d.
func (f *fetcher) fetchOnce(ctx context.Context, d ocispec.Descriptor) error {
	l, err := f.puller.Layer(ctx, f.repo.Digest(d.Digest.String()))
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	w, err := f.store.Writer(ctx)
	if err != nil {
		return err
	}
	defer w.Close()
	pr := &progressReader{r: rc, rep: f.rep, action: ActionPull, d: d.Digest, total: d.Size}
	// One byte past the expected size is enough to know it is too long.
	_, copyErr := io.Copy(w, io.LimitReader(pr, d.Size+1))
	if copyErr != nil && isTransient(copyErr) {
		return copyErr
	}
	// go-containerregistry's own check fails the read at the end of a
	// mismatching blob; the store's hash of what arrived says how.
	if w.Size() != d.Size || w.Digest() != d.Digest {
		actual := w.Size()
		if actual > d.Size {
			actual = -1
		}
		return &oci.DigestMismatchError{Expected: d.Digest, Actual: w.Digest(), ExpectedSize: d.Size, ActualSize: actual}
	}
	if copyErr != nil {
		return copyErr
	}
	if _, _, err := w.Commit(d.Digest); err != nil {
		return err
	}
	pr.finish()
	return nil
}

// putVerified stores data, which must have digest d.
func putVerified(ctx context.Context, s *oci.Store, d digest.Digest, data []byte) error {
	w, err := s.Writer(ctx)
	if err != nil {
		return err
	}
	defer w.Close()
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		return err
	}
	_, _, err = w.Commit(d)
	return err
}

// progressReader reports bytes read every progressStep bytes.
type progressReader struct {
	r        io.Reader
	rep      *reporter
	action   string
	d        digest.Digest
	total    int64
	done     int64
	reported int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.done-p.reported >= progressStep {
		p.reported = p.done
		p.rep.report(p.d, p.action, p.done, p.total)
	}
	return n, err
}

// finish reports the completed blob.
func (p *progressReader) finish() {
	p.rep.report(p.d, p.action, p.done, p.total)
}
