package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ocibuilder/builder/internal/cgroup"
)

// Limits are the resource limits of each RUN step (Options.Limits). The
// zero value limits nothing.
type Limits struct {
	// Memory is the most memory, in bytes, the step's processes may use
	// together; swap is not allowed on top of it. Zero means no limit.
	Memory int64
	// CPUs is how many CPUs' worth of time the step may use per scheduling
	// period (1.5 is one and a half CPUs). Zero means no limit.
	CPUs float64
	// Pids is the most processes and threads the step may have at once.
	// Zero or negative means no limit, as for docker's --pids-limit.
	Pids int64
}

// Validate checks that every limit is one the kernel can enforce.
func (l Limits) Validate() error { return cgroup.Limits(l).Validate() }

// cgroupRemoveTimeout bounds the wait for a step's processes to die when
// its cgroup is removed; they are SIGKILLed, so it only matters when the
// kernel is stuck.
const cgroupRemoveTimeout = 30 * time.Second

// stepCgroup makes the cgroup of one RUN step: it holds the step's limits
// and confines the devices it may open to the standard set. It returns nil
// when cgroups can do neither here. The first step's log says once why
// limits that were asked for, or the device allow-list, are not applied.
func (b *builder) stepCgroup(log io.Writer) (*cgroup.Group, error) {
	if err := cgroup.Limits(b.opts.Limits).Validate(); err != nil {
		return nil, err
	}
	b.cgOnce.Do(b.openCgroups)
	if (b.cgWhy != nil || b.cgDevWhy != nil) && b.cgWarned.CompareAndSwap(false, true) {
		if b.cgWhy != nil {
			fmt.Fprintf(log, "resource limits are not applied (%v); RUN steps run without them\n", b.cgWhy)
		}
		if b.cgDevWhy != nil {
			fmt.Fprintf(log, "the device allow-list is not applied (%v); device nodes are unusable in RUN steps through nodev mounts only\n", b.cgDevWhy)
		}
	}
	if b.cgroups == nil || (b.cgLimits.IsZero() && b.cgDevWhy != nil) {
		return nil, nil
	}
	g, err := b.cgroups.New(b.cgLimits)
	if err != nil {
		return nil, fmt.Errorf("creating the step's cgroup: %w", err)
	}
	return g, nil
}

// openCgroups opens the build's cgroup subtree and keeps each limit the
// hierarchy can enforce: a missing controller costs only its own limit.
func (b *builder) openCgroups() {
	want := cgroup.Limits(b.opts.Limits)
	m, err := cgroup.Open(cgroup.Config{})
	if err != nil {
		b.cgDevWhy = err
		if !want.IsZero() {
			b.cgWhy = err
		}
		return
	}
	b.cgDevWhy = m.Devices()
	var why []error
	keep := cgroup.Limits{}
	for _, one := range []cgroup.Limits{{Memory: want.Memory}, {CPUs: want.CPUs}, {Pids: want.Pids}} {
		if one.IsZero() {
			continue
		}
		if err := m.Check(one); err != nil {
			why = append(why, err)
			continue
		}
		keep.Memory += one.Memory
		keep.CPUs += one.CPUs
		keep.Pids += one.Pids
	}
	b.cgroups, b.cgLimits, b.cgWhy = m, keep, errors.Join(why...)
}

// removeCgroup removes a step's cgroup, killing what is left in it, even
// when ctx is done: a cancelled step must not leave its group behind.
func removeCgroup(ctx context.Context, g *cgroup.Group) error {
	if g == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cgroupRemoveTimeout)
	defer cancel()
	if err := g.Remove(ctx); err != nil {
		return fmt.Errorf("removing the step's cgroup: %w", err)
	}
	return nil
}

// closeCgroups removes the build's cgroup subtree.
func (b *builder) closeCgroups(ctx context.Context) error {
	if b.cgroups == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cgroupRemoveTimeout)
	defer cancel()
	return b.cgroups.Close(ctx)
}
