package oci

import "golang.org/x/sys/unix"

// The Linux calls that copy blobs out of the store (export_copy.go);
// copy_other.go has their stand-ins.

// fileClone makes dst share src's blocks (FICLONE: XFS, btrfs).
func fileClone(dst, src int) error { return unix.IoctlFileClone(dst, src) }

// copyFileRange copies up to n bytes from src at *off to dst's offset in
// the kernel.
func copyFileRange(src int, off *int64, dst int, n int) (int, error) {
	return unix.CopyFileRange(src, off, dst, nil, n, 0)
}

// startWriteback starts writing dst's range [off, off+n) to disk.
func startWriteback(dst int, off, n int64) {
	_ = unix.SyncFileRange(dst, off, n, unix.SYNC_FILE_RANGE_WRITE)
}
