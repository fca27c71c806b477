package cgroup_test

import (
	"context"
	"fmt"

	"github.com/ocibuilder/builder/internal/cgroup"
)

func ExampleLimits_CPUQuota() {
	cpus, err := cgroup.ParseCPUs("1.5")
	if err != nil {
		panic(err)
	}
	quota, period := cgroup.Limits{CPUs: cpus}.CPUQuota()
	fmt.Printf("cpu.max: %d %d\n", quota, period)
	// Output:
	// cpu.max: 150000 100000
}

// ExampleOpen shows the life of a build's groups: one subtree per build,
// one group per step, each removed when done.
func ExampleOpen() {
	m, err := cgroup.Open(cgroup.Config{})
	if err != nil {
		fmt.Println("running without limits:", err)
		return
	}
	defer func() {
		if err := m.Close(context.Background()); err != nil {
			fmt.Println(err)
		}
	}()
	g, err := m.New(cgroup.Limits{Memory: 512 << 20, CPUs: 2, Pids: 4096})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Start the step's process in the group (sandbox.Spec.Cgroup does),
	// wait for it, then:
	if oom, err := g.OOMKilled(); err == nil && oom {
		fmt.Println("out of memory")
	}
	if err := g.Remove(context.Background()); err != nil {
		fmt.Println(err)
	}
}
