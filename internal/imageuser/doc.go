// Package imageuser resolves the users and groups of an image: a USER, a
// COPY or ADD --chown, or the owner of a directory WORKDIR creates, read
// against the image's own /etc/passwd and /etc/group (never the host's),
// into numeric ids.
//
// The three follow docker and BuildKit, which differ per use: a process
// started as USER needs a user name to exist and gets the user's
// supplementary groups ([Resolve]); --chown needs named users and groups
// to exist but ignores supplementary groups ([Chown]); WORKDIR leaves an
// unknown name at id 0 ([WorkdirOwner]). Numbers, and "root" where BuildKit
// accepts it, need no file at all. The files are parsed as libc does,
// skipping malformed lines, and read only up to a bound.
package imageuser
