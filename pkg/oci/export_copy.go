package oci

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// exportBufSize is the buffer blobs are copied and hashed through, in
// reads of half its size.
const exportBufSize = 2 << 20

// exportBlob puts a copy of blob b at dst that shares nothing with the
// store: a reflink where the filesystem can clone, else a plain copy, so
// nothing done to an output (chmod, an edit in place) reaches the store
// or another output. Whatever lands at dst is verified against b's digest
// and size in the same pass: a copy is hashed as it is written, a clone
// is read back. It reports whether dst was cloned.
func exportBlob(ctx context.Context, s *Store, b ocispec.Descriptor, dst string, buf []byte) (cloned bool, err error) {
	if err := checkDigest(b.Digest); err != nil {
		return false, fmt.Errorf("exporting blob %q: %w", b.Digest, err)
	}
	src, err := os.Open(s.Path(b.Digest))
	if errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("exporting blob %s: %w", b.Digest, ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("exporting blob %s: %w", b.Digest, err)
	}
	defer src.Close()
	// A blob of the wrong size fails before anything is copied; the
	// content is checked below, on what was actually written.
	fi, err := src.Stat()
	if err != nil {
		return false, fmt.Errorf("exporting blob %s: %w", b.Digest, err)
	}
	if fi.Size() != b.Size {
		return false, fmt.Errorf("exporting blob %s: %w", b.Digest, &DigestMismatchError{Expected: b.Digest, Actual: b.Digest, ExpectedSize: b.Size, ActualSize: fi.Size()})
	}
	f, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return false, fmt.Errorf("creating blob %s: %w", dst, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing blob %s: %w", dst, cerr)
		}
	}()
	h := sha256.New()
	var n int64
	cerr := fileClone(int(f.Fd()), int(src.Fd()))
	switch {
	case cerr == nil:
		cloned = true
		n, err = io.CopyBuffer(h, ctxReader{ctx: ctx, r: f}, buf)
		if err != nil {
			return true, fmt.Errorf("reading back blob %s: %w", b.Digest, err)
		}
	case cloneUnsupported(cerr):
		var inKernel bool
		n, inKernel, err = copyRangeHashing(ctx, f, src, b.Size, h, buf)
		if err == nil && !inKernel {
			n, err = copyHashing(ctx, f, h, io.LimitReader(src, b.Size+1), buf)
		}
		if err != nil {
			return false, fmt.Errorf("copying blob %s: %w", b.Digest, err)
		}
	default:
		return false, fmt.Errorf("cloning blob %s: %w", b.Digest, cerr)
	}
	// copyHashing has returned, so the hasher is done with h.
	if got := digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil)); got != b.Digest || n != b.Size {
		return cloned, fmt.Errorf("exporting blob %s: %w", b.Digest, &DigestMismatchError{Expected: b.Digest, Actual: got, ExpectedSize: b.Size, ActualSize: n})
	}
	if err := f.Sync(); err != nil {
		return cloned, fmt.Errorf("syncing blob %s: %w", dst, err)
	}
	return cloned, nil
}

// cloneUnsupported reports whether FICLONE failed because the files cannot
// share extents (another filesystem, or one without reflinks), as opposed
// to an I/O error.
func cloneUnsupported(err error) bool {
	for _, e := range []error{unix.EOPNOTSUPP, unix.ENOTTY, unix.EXDEV, unix.EINVAL, unix.ENOSYS, unix.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// copyRangeChunk is how much copyRangeHashing copies per system call: the
// hash of one chunk runs while the next is copied.
const copyRangeChunk = 8 << 20

// copyRangeHashing copies size bytes of src to dst inside the kernel
// (copy_file_range: no pass through user memory), starting each chunk's
// writeback at once so that the final fsync waits for little, and hashes
// what landed in dst, reading it back one chunk behind the copy. inKernel
// is false, with nothing written, where the kernel cannot copy between the
// two files; the caller then copies through user memory.
func copyRangeHashing(ctx context.Context, dst, src *os.File, size int64, h hash.Hash, buf []byte) (n int64, inKernel bool, err error) {
	type chunk struct{ off, n int64 }
	todo := make(chan chunk, 2)
	hashed := make(chan error, 1)
	go func() {
		var herr error
		for c := range todo {
			if herr == nil {
				_, herr = io.CopyBuffer(h, io.NewSectionReader(dst, c.off, c.n), buf)
			}
		}
		hashed <- herr
	}()
	finish := func(err error) (int64, bool, error) {
		close(todo)
		if herr := <-hashed; err == nil && herr != nil {
			err = fmt.Errorf("reading back: %w", herr)
		}
		return n, true, err
	}
	for n < size {
		if err := ctx.Err(); err != nil {
			return finish(err)
		}
		want := min(size-n, copyRangeChunk)
		off := n
		m, err := copyFileRange(int(src.Fd()), &off, int(dst.Fd()), int(want))
		if err != nil && n == 0 && copyRangeUnsupported(err) {
			close(todo)
			<-hashed
			return 0, false, nil
		}
		if err != nil {
			return finish(err)
		}
		if m == 0 {
			// The blob is shorter than its descriptor says; the
			// caller's size check reports it.
			break
		}
		// Writeback of this chunk starts now, not at the fsync.
		startWriteback(int(dst.Fd()), n, int64(m))
		todo <- chunk{off: n, n: int64(m)}
		n += int64(m)
	}
	return finish(nil)
}

// copyRangeUnsupported reports whether copy_file_range failed because it
// cannot copy between these files here (an old kernel, another filesystem
// type), as opposed to an I/O error.
func copyRangeUnsupported(err error) bool {
	for _, e := range []error{unix.ENOSYS, unix.EXDEV, unix.EINVAL, unix.EOPNOTSUPP, unix.EBADF} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// copyHashing copies src to dst, feeding h with every byte written, and
// returns the number of bytes copied. buf is cut in two halves: while one
// is written, a goroutine hashes it and the other is filled, so on two
// cores the copy takes about as long as the slower of hashing and writing
// instead of their sum.
func copyHashing(ctx context.Context, dst io.Writer, h hash.Hash, src io.Reader, buf []byte) (n int64, err error) {
	halves := [2][]byte{buf[:len(buf)/2], buf[len(buf)/2:]}
	todo := make(chan []byte, 2)
	hashed := make(chan struct{}, 2)
	go func() {
		for b := range todo {
			h.Write(b)
			hashed <- struct{}{}
		}
	}()
	pending := 0 // chunks sent to the hasher and not yet hashed
	defer func() {
		// Neither half may still be read once the caller reuses buf.
		close(todo)
		for ; pending > 0; pending-- {
			<-hashed
		}
	}()
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		// The chunk read into this half two rounds ago must be hashed.
		for ; pending > 1; pending-- {
			<-hashed
		}
		b := halves[i%2]
		m, rerr := io.ReadFull(src, b)
		if m > 0 {
			todo <- b[:m]
			pending++
			if _, err := dst.Write(b[:m]); err != nil {
				return n, err
			}
			n += int64(m)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}
