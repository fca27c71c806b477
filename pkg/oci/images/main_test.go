package images

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocibuilder/builder/pkg/statedir"
)

// helperEnv selects a helper mode when the test binary re-executes itself
// to act as another process on the same state directory.
const helperEnv = "IMAGES_TEST_HELPER"

// TestMain runs the helper modes instead of the tests when asked to.
func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "tag":
		os.Exit(report(helperTag(os.Args[1:])))
	case "hold-shared":
		os.Exit(report(helperHoldShared(os.Args[1:])))
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode")
		os.Exit(2)
	}
}

func report(err error) int {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// helperTag tags one manifest under n names: root, manifest digest, size,
// name prefix, n.
func helperTag(args []string) error {
	if len(args) != 5 {
		return fmt.Errorf("tag helper: want 5 arguments, got %d", len(args))
	}
	root, prefix := args[0], args[3]
	size, err := strconv.ParseInt(args[2], 10, 64)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(args[4])
	if err != nil {
		return err
	}
	x, err := openIndex(context.Background(), root)
	if err != nil {
		return err
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digestArg(args[1]), Size: size}
	for i := range n {
		if err := x.Tag(context.Background(), fmt.Sprintf("%s:%d", prefix, i), desc); err != nil {
			return err
		}
	}
	return nil
}

// helperHoldShared takes the shared state lock of root, says so on stdout
// and then waits to be killed.
func helperHoldShared(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("hold-shared helper: want 1 argument, got %d", len(args))
	}
	if _, err := lockState(context.Background(), args[0], statedir.Shared); err != nil {
		return err
	}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(w, "locked")
	if err := w.Flush(); err != nil {
		return err
	}
	select {}
}

func digestArg(s string) digest.Digest { return digest.Digest(s) }

// helper starts the test binary in helper mode.
func helper(t *testing.T, mode string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.Stderr = os.Stderr
	return cmd
}
