// Package cgroup confines the processes of one build step to a control group
// with memory, CPU and process-count limits, and tells afterwards whether the
// kernel killed one of them for lack of memory.
//
// A Manager owns one subtree of the cgroup hierarchy for the life of a build
// and creates a Group per step inside it. Both hierarchies are supported:
//
//   - cgroup v2 (unified): a cgroup that holds processes cannot hand
//     controllers to children (the "no internal processes" rule), so the
//     subtree is made beside the caller's own cgroup, under its parent (or
//     under the root cgroup, which is exempt from the rule). The parent must
//     have the memory, cpu and pids controllers enabled for its children;
//     Open enables them where the kernel allows. A step's process is cloned
//     straight into its group (CLONE_INTO_CGROUP).
//   - cgroup v1 and hybrid layouts: one directory per controller, made under
//     the caller's own cgroup of that controller. A step's process is moved
//     into the group by PID.
//
// Open returns an error wrapping ErrUnavailable when the hierarchy cannot be
// used here (read-only cgroupfs, missing controllers, a delegated v2 root
// with processes in it); callers may then run steps without limits.
package cgroup
