package cgroup

import (
	"errors"
	"fmt"
	"math"

	"github.com/ocibuilder/builder/internal/units"
)

// Limits are the resource limits of one step. The zero value limits
// nothing.
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

// MinMemory is the smallest memory limit Validate accepts, as docker's: the
// sandbox's own setup must fit in it.
const MinMemory = 6 << 20

// CPUPeriod is the scheduling period, in microseconds, CPU quotas are
// expressed in: the kernel's default, as docker uses.
const CPUPeriod = 100000

// maxCPUs bounds CPUs so that the quota stays far within what the kernel
// accepts.
const maxCPUs = 1 << 20

// ErrInvalidLimits is wrapped by the errors of Validate.
var ErrInvalidLimits = errors.New("invalid resource limits")

// IsZero reports whether l limits nothing.
func (l Limits) IsZero() bool {
	return l.Memory == 0 && l.CPUs == 0 && l.Pids <= 0
}

// Validate checks that every limit is one the kernel can enforce.
func (l Limits) Validate() error {
	if l.Memory < 0 {
		return fmt.Errorf("%w: negative memory limit %d", ErrInvalidLimits, l.Memory)
	}
	if l.Memory != 0 && l.Memory < MinMemory {
		return fmt.Errorf("%w: memory limit %s is below the minimum of %s", ErrInvalidLimits, units.FormatBytes(l.Memory), units.FormatBytes(MinMemory))
	}
	if math.IsNaN(l.CPUs) || l.CPUs < 0 || l.CPUs > maxCPUs {
		return fmt.Errorf("%w: CPU limit %v is out of range", ErrInvalidLimits, l.CPUs)
	}
	if l.CPUs != 0 {
		if q, _ := l.CPUQuota(); q < 1000 {
			// The kernel refuses quotas under a millisecond.
			return fmt.Errorf("%w: CPU limit %v is below the minimum of 0.01", ErrInvalidLimits, l.CPUs)
		}
	}
	return nil
}

// CPUQuota returns the CPU time, in microseconds, the step may use in each
// period of period microseconds; quota is 0 when CPUs is 0.
func (l Limits) CPUQuota() (quota, period int64) {
	return int64(math.Round(l.CPUs * CPUPeriod)), CPUPeriod
}
