// Command builder builds OCI images from Dockerfiles without a daemon.
//
//	builder build -f Dockerfile -t app:1 -o type=oci,dest=app.tar .
package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/ocibuilder/builder/pkg/executor/sandbox"
	"github.com/spf13/cobra"
)

func main() {
	// In a RUN step's sandbox process this runs the step and never
	// returns.
	sandbox.Init()
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the CLI and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stop := cancelOnSignal(ctx, cancel)
	defer stop()
	root := newRootCommand(stdin, stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		return reportError(ctx, stderr, err)
	}
	return 0
}

// errReported marks an error the command has already printed.
var errReported = errors.New("reported")

func newRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "builder",
		Short:         "Build OCI images from Dockerfiles, without a daemon",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	g := &globalFlags{}
	pf := root.PersistentFlags()
	pf.StringVar(&g.root, "root", defaultRoot(), "state directory (blob store, extracted layers, local images)")
	pf.StringArrayVar(&g.insecure, "insecure-registry", nil, "registry HOST[:PORT] to reach over plain HTTP (loopback registries always are)")
	root.AddCommand(newBuildCommand(g), newImagesCommand(g), newPushCommand(g), newSaveCommand(g),
		newRmiCommand(g), newPruneCommand(g), newVersionCommand())
	return root
}

// defaultRoot is /var/lib/builder for root, else under $XDG_DATA_HOME.
func defaultRoot() string {
	if os.Geteuid() == 0 {
		return "/var/lib/builder"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "builder")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "builder")
	}
	return filepath.Join(os.TempDir(), "builder")
}

// globalFlags are the flags every command takes.
type globalFlags struct {
	root     string
	insecure []string
}
