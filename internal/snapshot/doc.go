// Package snapshot computes the filesystem layer a build step produced.
//
// Image layers are kept extracted, one directory each, in overlay format: a
// deletion is a 0/0 character device at the deleted name and an opaque
// directory carries the xattr trusted.overlay.opaque="y". A [Stack] is the
// read-only union of such directories, resolved the way overlayfs resolves
// its lower directories.
//
// A step writes its changes either into an overlayfs upper directory (the
// fast path) or into a full copy of the stack made by [Materialize] (the
// fallback when overlayfs is unavailable). [Changes] and [DirChanges] diff
// those two forms against the stack and produce the same change stream for
// the same logical difference, so both snapshotters emit byte-identical
// layers.
//
// # Snapshotters
//
// A [Snapshotter] is the seam between running a step and making its root
// filesystem: [Snapshotter.Prepare] gives a [Snapshot] over a stack, whose
// [Mounts] say what the sandbox mounts as its root (a directory, or overlay
// lower, upper and work directories); after the step, [Snapshot.Commit]
// hands the result over, [Snapshot.Changes] diffs it, and
// [Snapshot.Release] removes what Prepare made. [NewOverlay] mounts the
// stack under a fresh upper directory, which becomes the layer's directory
// (a stack deeper than [MaxLowerDirs] has its bottom squashed once into a
// shared chain directory); [NewCopy] materializes the stack into a
// directory. [ProbeOverlay] tells whether overlayfs works here. What they
// need of the build's state directory comes in a [Config] of plain
// functions.
//
// # Change stream rules
//
// Both differs report paths in lexical order of their components: the walk
// is depth-first, a directory is reported before its children, and the
// children of one directory are visited in byte order of their names. So
// "a", "a/b", "a-1", "a.c" is the order, although "a.c" < "a/b" as strings.
//
// An entry is unchanged when its type, permission bits (including setuid,
// setgid and sticky), owner, group, size (regular files only), mtime to the
// nanosecond, link target, device number and xattrs (ignoring the
// trusted.overlay.* and user.overlay.* namespaces) are all equal. Content is
// not compared: a file rewritten with the same size and then set back to its
// exact old mtime counts as unchanged. Unchanged entries are not reported,
// but their changed descendants are. The root directory itself is never
// reported.
//
// A path that existed below and is gone is one Delete, with nothing reported
// beneath it. A path whose type changed is a Modify; when it became a
// directory, everything in it is an Add. When a directory was removed and
// created again, its entries that existed only below become one Delete each,
// sorted among its other entries; an opaque marker is never emitted.
package snapshot
