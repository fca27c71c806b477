// Package images keeps the named images of a state directory and reclaims
// the space of the ones nobody names any more, like `docker images`,
// `docker rmi` and `docker image prune` do for a daemon's store.
//
// It works in a state directory opened with statedir.Open (whose package
// documents the layout): the Index keeps names in images.json, its updates
// serialized by images.lock; Prune needs the directory opened
// statedir.Exclusive, which waits for every build (they open it
// statedir.Shared), so it never removes a blob a running build has
// written but not yet tagged. All locks are flock(2) locks, which the
// kernel drops when a holder dies, so a killed process never blocks the
// others.
package images
