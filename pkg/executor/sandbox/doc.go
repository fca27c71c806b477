// Package sandbox runs one command of a build step in an isolated process
// tree, without a container daemon or an OCI runtime.
//
// Run re-executes the current binary (/proc/self/exe) into new mount, PID,
// UTS and IPC namespaces (and a new network namespace unless NetworkHost;
// with NetworkPrivate, slirp4netns gives it outbound access while the child
// sets up, and the child runs the command only once that is ready). That
// child mounts the step's root filesystem inside its own mount namespace,
// builds /proc, /dev and /sys, masks the kernel interfaces Docker masks,
// pivots into the new root, drops to Docker's default capability set and the
// step's user, confines itself to Docker's default seccomp profile (unless
// Spec.SeccompUnconfined), and execs the command, which becomes PID 1 of its PID
// namespace. When PID 1 exits the kernel kills every other process of the
// step and every mount disappears with the namespace, so nothing is left
// behind on the host.
//
// Programs that use Run must call Init first thing in main (and in TestMain
// of test packages that run sandboxes): the re-executed child is recognised
// there and never reaches the program's own code. Init also records, in the
// process's environment, that it ran; Run checks that record (Initialized)
// and, when Init was forgotten, fails with an error wrapping ErrNoInit
// instead of starting a child that would run main again.
//
// The overlay mount data (the lowerdir, upperdir and workdir options) must fit
// in one page (4095 bytes on most machines). The lower directories are named
// relative to their common parent directory, so stacks of many layers kept
// side by side in one directory fit; a stack that still does not fit is
// refused with an error wrapping ErrOverlayTooLong, and the caller should
// flatten some lower layers into one.
package sandbox
