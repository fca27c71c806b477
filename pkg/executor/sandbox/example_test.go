package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"

	"github.com/ocibuilder/builder/pkg/executor/sandbox"
)

// A program calls Init first in main, then runs steps with Run. The layer of
// the step is what the command left in UpperDir, minus Result.Stubs.
func Example() {
	sandbox.Init() // in a sandbox child this never returns

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := sandbox.Available(); err != nil {
		log.Fatal(err)
	}
	state, err := os.MkdirTemp("", "step-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(state)

	res, err := sandbox.Run(ctx, sandbox.Spec{
		Rootfs: sandbox.Rootfs{Overlay: &sandbox.Overlay{
			LowerDirs: []string{"/var/lib/builder/layers/base"},
			UpperDir:  "/var/lib/builder/steps/1/upper",
			WorkDir:   "/var/lib/builder/steps/1/work",
		}},
		Args:       []string{"/bin/sh", "-c", "echo hello > /greeting"},
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Cwd:        "/",
		Hostname:   "buildhost",
		Hosts:      []byte("127.0.0.1 localhost buildhost\n"),
		ResolvConf: []byte("nameserver 192.0.2.53\n"),
		Network:    sandbox.NetworkNone,
		StateDir:   state,
	}, nil, os.Stdout, os.Stderr)
	var setup *sandbox.SetupError
	switch {
	case errors.As(err, &setup):
		log.Fatalf("the sandbox could not be built: %v", err)
	case err != nil:
		log.Fatal(err)
	case res.ExitCode != 0:
		log.Fatalf("the step failed with exit code %d", res.ExitCode)
	}
	fmt.Println("leave out of the layer:", res.Stubs)
}
