// Package images keeps the named images of a state directory and reclaims
// the space of the ones nobody names any more, like `docker images`,
// `docker rmi` and `docker image prune` do for a daemon's store.
//
// The state directory holds:
//
//	blobs/sha256/<hex>      content store (oci.Store)
//	images.json, images.lock  the Index: image name → manifest descriptor
//	layers/<hex>/           extracted layers, named by diffID
//	layers/chain-<hex>/     squashed layer stacks (recomputable caches)
//	tmp/                    scratch space of running builds
//	state.lock              shared by builds, exclusive for Prune
//
// Several builders and a prune may work on one state directory at once.
// Builds hold LockShared for their whole life, so Prune, which holds
// LockExclusive, never removes a blob a running build has written but not
// yet tagged. Index updates are serialized by images.lock. All locks are
// flock(2) locks, which the kernel drops when a holder dies, so a killed
// process never blocks the others.
package images
