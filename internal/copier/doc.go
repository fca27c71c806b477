// Package copier writes the files a COPY, ADD or WORKDIR step brings into
// the step's upper directory, an overlay-format directory that becomes the
// step's layer, over the read-only lower layers of the stage.
//
// # Use
//
// [New] opens a [Copier] on an empty upper directory. The step then calls
// [Copier.ResolveDest] once for its destination and, per source,
// [Copier.CopyInto] (a directory's contents), [Copier.CopyEntry] (a single
// entry), [Copier.CopyWithParents] (an entry with the directories above
// it, for COPY --parents), [Copier.WriteFile] (a heredoc or a download) or
// [Copier.Extract] (an archive ADD unpacks). A copy over no lower layers
// (an empty stack) writes a layer that does not depend on the image, as
// COPY --link does. [Copier.Finish] sets the
// directory times the writes disturbed, [Copier.Changes] lists what the
// step wrote for the layer, and [Copier.Close] releases the directory
// descriptors. [Walk] lists a source directory in the order and with the
// --exclude rule the copy uses, so that a cache key computed from the same
// walk covers exactly what the copy reads.
//
// # Safety
//
// Nothing a source holds, and nothing the image holds, can make the copier
// write outside the upper directory. Every write goes through an [os.Root]
// on the upper directory (or a descriptor of a directory opened through
// it, for the *at system calls os.Root lacks), so a ".." or a symlink in a
// destination path stops at the upper directory's top instead of being
// followed out of it. Destinations are first resolved as the kernel would
// resolve them inside the image (symlinks of the lower layers and the
// upper included, confined to the image root), and the result is a path
// free of symlinks; resolving again through os.Root is then only a guard.
//
// # Copy-up
//
// Like overlayfs, the copier copies a lower directory up before it writes
// below it: the directory is created in the upper with the lower one's
// owner, mode, extended attributes and mtime, so it does not show as a
// change unless the step really changed its metadata. Directories the
// image lacks are created with 0755 (the permission bits of --chmod when
// given) and owned by --chown, or root. An entry the upper already holds
// at a destination is replaced, unless both are directories, which merge.
//
// # Ownership, modes and times
//
// Copied entries are owned by --chown when given; otherwise by root for
// the build context and by their source owner for sources from a stage or
// an image, whose ownership is part of the content. --chmod replaces the
// permission and special bits; chmod runs after chown, which clears the
// setuid and setgid bits. Extended attributes are copied except
// overlayfs' and SELinux's own. Mtimes are kept; a directory's is set
// last ([Copier.Finish]), since writing its children changes it.
//
// # Hard links
//
// Regular files of one source that share an inode (a link count above
// one) are copied once; the later names become hard links to the first
// copy in the upper, so the layer keeps the link instead of duplicating
// the content. Devices and named pipes are recreated with mknod; sockets
// are skipped, as docker skips them.
//
// A Copier is not safe for concurrent use.
package copier
