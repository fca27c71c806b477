package sandbox

import (
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Exit statuses of the child when it cannot exec the command; the parent
// reads the report rather than these, so they only matter to someone
// watching the process.
const (
	exitSetupFailed = 125
	exitExecFailed  = 127
)

// childMain runs in the re-executed process, inside the new namespaces: it
// reads the spec, builds the sandbox and execs the command. It returns only
// on failure, with the status to exit with.
func childMain() int {
	specFile := os.NewFile(specFD, "sandbox-spec")
	reports := os.NewFile(reportFD, "sandbox-report")
	if specFile == nil || reports == nil {
		fmt.Fprintln(os.Stderr, "sandbox: child started without its pipes")
		return exitSetupFailed
	}
	enc := gob.NewEncoder(reports)
	fail := func(stubs []string, err error) int {
		var se *SetupError
		rep := report{Stubs: stubs, Err: err.Error()}
		if errors.As(err, &se) {
			rep.Err, rep.Exec = se.Msg, se.Exec
		}
		if encErr := enc.Encode(&rep); encErr != nil {
			fmt.Fprintf(os.Stderr, "sandbox: %v (reporting it: %v)\n", err, encErr)
		}
		if rep.Exec {
			return exitExecFailed
		}
		return exitSetupFailed
	}
	// The report pipe must vanish with a successful exec.
	unix.CloseOnExec(reportFD)

	var spec Spec
	if err := gob.NewDecoder(specFile).Decode(&spec); err != nil {
		return fail(nil, fmt.Errorf("reading spec: %w", errors.Join(err, specFile.Close())))
	}

	st := &stubs{}
	path, err := setupSandbox(&spec, st)
	if err != nil {
		return fail(st.list, err)
	}
	// The parent closes the spec pipe once what the step needs besides
	// its root (a private network) is ready.
	_, waitErr := io.Copy(io.Discard, specFile)
	if err := errors.Join(waitErr, specFile.Close()); err != nil {
		return fail(st.list, fmt.Errorf("waiting for the network: %w", err))
	}
	if err := enc.Encode(&report{Stubs: st.list, Ready: true}); err != nil {
		return fail(st.list, fmt.Errorf("reporting readiness: %w", err))
	}
	err = unix.Exec(path, spec.Args, spec.Env)
	return fail(st.list, &SetupError{Msg: fmt.Sprintf("executing %s: %v", spec.Args[0], err), Exec: true})
}

// setupSandbox builds the sandbox described by spec around the calling
// process and returns the path of the command to exec. Each step depends on
// the ones before it, in this order.
func setupSandbox(spec *Spec, st *stubs) (string, error) {
	// The filter is compiled first, so that a profile the compiler
	// refuses costs no mount, and installed last.
	var filter []unix.SockFilter
	if !spec.SeccompUnconfined && !spec.Insecure {
		var err error
		if filter, err = seccompProgram(defaultCaps); err != nil {
			return "", err
		}
	}
	root, err := buildRoot(spec, st)
	if err != nil {
		return "", err
	}
	if err := enterRoot(spec, root); err != nil {
		return "", err
	}
	if err := becomeUser(spec); err != nil {
		return "", err
	}
	path, err := lookPath(spec.Args[0], spec.Env)
	if err != nil {
		return "", &SetupError{Msg: err.Error(), Exec: true}
	}
	// After no_new_privs, the capability drop and the user switch, so that
	// none of them needs a syscall the profile refuses. What runs between
	// here and the exec (the readiness report, execve) is allowed by it.
	if filter != nil {
		if err := installSeccomp(filter); err != nil {
			return "", err
		}
	}
	return path, nil
}

// buildRoot mounts the sandbox's root filesystem with its /proc, /dev,
// /sys, /etc files and secrets under spec.StateDir, and returns its path.
func buildRoot(spec *Spec, st *stubs) (string, error) {
	// Mountpoints and device nodes get exactly the modes asked for.
	unix.Umask(0)
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return "", fmt.Errorf("making / a recursive slave: %w", err)
	}
	root := filepath.Join(spec.StateDir, "root")
	if err := os.Mkdir(root, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("creating root mountpoint: %w", err)
	}
	if err := mountRootfs(spec.Rootfs, root); err != nil {
		return "", err
	}
	etc, err := writeEtcFiles(spec)
	if err != nil {
		return "", err
	}
	mp, err := makeMountpoints(root, st)
	if err != nil {
		return "", err
	}
	if err := mountProc(mp.proc); err != nil {
		return "", err
	}
	if err := mountDev(mp.dev); err != nil {
		return "", err
	}
	if err := writeDevFiles(mp.dev, spec.DevFiles); err != nil {
		return "", err
	}
	if err := mountSys(mp.sys); err != nil {
		return "", err
	}
	if err := maskPaths(mp); err != nil {
		return "", err
	}
	if err := bindEtcFiles(etc, mp); err != nil {
		return "", err
	}
	if err := mountStepMounts(spec, root, st); err != nil {
		return "", err
	}
	// Last, so that no later mount hides a secret whose path lies
	// under /dev, /etc or a step mount.
	if err := mountSecrets(spec, root, st); err != nil {
		return "", err
	}
	return root, nil
}

// enterRoot makes root the process's root filesystem and gives the
// sandbox its host name and, without the host's network, its loopback
// interface.
func enterRoot(spec *Spec, root string) error {
	if err := pivotRoot(root); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
		return fmt.Errorf("setting hostname: %w", err)
	}
	if spec.Network != NetworkHost {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	return nil
}

// becomeUser creates the working directory, drops privileges to the
// step's user and changes to the working directory.
func becomeUser(spec *Spec) error {
	if err := makeCwd(spec.Cwd, spec.UID, spec.GID); err != nil {
		return err
	}
	if err := dropPrivileges(spec.UID, spec.GID, spec.Groups, spec.Insecure); err != nil {
		return err
	}
	if err := unix.Chdir(spec.Cwd); err != nil {
		return fmt.Errorf("changing to working directory %s: %w", spec.Cwd, err)
	}
	// The command gets the umask containers get.
	unix.Umask(0o022)
	return nil
}
