package sandbox

import (
	"os"
	"runtime"
)

// Init runs the sandbox child when the current process is one, and never
// returns then; in any other process it returns at once. It must be the
// first call in main, and in TestMain of packages whose tests run
// sandboxes, so that the child sets up the sandbox before the program's own
// code runs.
func Init() {
	if os.Getenv(childEnv) != childValue {
		return
	}
	// Capabilities, the no_new_privs bit and the exec that follows are per
	// thread: all of setup runs on this one.
	runtime.LockOSThread()
	os.Exit(childMain())
}
