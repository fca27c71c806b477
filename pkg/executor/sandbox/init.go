package sandbox

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
)

// initEnv is set by Init, in the process that called it, to initToken. The
// environment is where a process may record something about itself without
// package-level state; programs it starts inherit the variable, but not its
// value's match (another process has another token), and sandbox children
// get an environment of their own.
const initEnv = "_OCIBUILDER_SANDBOX_INIT"

// ErrNoInit is wrapped by the error of Initialized, and of Run, when the
// program did not call Init.
var ErrNoInit = errors.New("call sandbox.Init() first in main")

// Init runs the sandbox child when the current process is one, and never
// returns then; in any other process it records that it ran (see
// Initialized) and returns at once. It must be the first call in main, and
// in TestMain of packages whose tests run sandboxes, so that the child sets
// up the sandbox before the program's own code runs.
func Init() {
	if os.Getenv(childEnv) != childValue {
		// A failure leaves Initialized reporting ErrNoInit; Init has no
		// error to return.
		_ = os.Setenv(initEnv, initToken())
		return
	}
	// Capabilities, the no_new_privs bit and the exec that follows are per
	// thread: all of setup runs on this one.
	runtime.LockOSThread()
	os.Exit(childMain())
}

// Initialized reports whether this process called Init. Without it, each
// sandbox child Run starts would run the program's own main instead of the
// sandbox setup, so callers check before starting any; the error wraps
// ErrNoInit and names the fix.
func Initialized() error {
	if got := os.Getenv(initEnv); got == "" || got != initToken() {
		return fmt.Errorf("%w: this process did not run it, so a sandbox child would run the program's main again instead of the step", ErrNoInit)
	}
	return nil
}

// initToken identifies this process among those that may inherit its
// environment: its PID together with its PID namespace, since a process in
// a new namespace may reuse a PID number of its parent's.
func initToken() string {
	pid := strconv.Itoa(os.Getpid())
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return pid
	}
	return pid + "@" + ns
}
