package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Spec describes one command to run in a sandbox.
type Spec struct {
	// Rootfs is the filesystem the command sees as /.
	Rootfs Rootfs
	// Args is the command's argv. Args[0] is looked up in the PATH of Env
	// inside the root filesystem when it has no slash (Docker's default PATH
	// is searched when Env has none).
	Args []string
	// Env is the command's whole environment, as KEY=value strings.
	Env []string
	// Cwd is the working directory inside the root filesystem; missing
	// directories are created with mode 0755, owned by UID and GID. Empty
	// means "/".
	Cwd string
	// UID and GID are the user and primary group the command runs as.
	UID, GID uint32
	// Groups are the supplementary groups.
	Groups []uint32
	// Hostname is the sandbox's host name, also written to /etc/hostname.
	// Empty means DefaultHostname.
	Hostname string
	// Hosts and ResolvConf are the contents of /etc/hosts and
	// /etc/resolv.conf inside the sandbox. They are mounted from StateDir
	// and never written into the root filesystem.
	Hosts, ResolvConf []byte
	// Network selects the network namespace.
	Network Network
	// StateDir is an existing, empty, private directory for mountpoints and
	// generated files; the caller removes it after Run returns.
	StateDir string
	// DevFiles are executable files the command finds in /dev/pipes/ (a
	// RUN heredoc with its own interpreter line runs from there). They
	// live on the sandbox's /dev tmpfs, never in the root filesystem.
	DevFiles map[string][]byte
	// Secrets are files the command reads at their Path and that exist
	// nowhere else: each is written to a tmpfs mounted only in the
	// sandbox's mount namespace and bind-mounted read-only at its Path.
	// A Path missing from the image is created as a stub (see
	// Result.Stubs), so the secret never reaches the root filesystem.
	Secrets []SecretFile
	// Mounts are the step's own mounts (RUN --mount types bind, cache and
	// tmpfs), applied after the sandbox's standard ones and before
	// Secrets.
	Mounts []Mount
	// Cgroup, when set, is the control group (resource limits) the step
	// runs in: the child is placed in it before it reads this spec, so no
	// code of the step runs outside it. It stays with the caller: the
	// child never receives it.
	Cgroup Cgroup
	// SeccompUnconfined runs the command without a seccomp filter. The
	// zero value confines it to Docker's default seccomp profile, resolved
	// against the sandbox's capabilities (Docker's default set) as Docker
	// resolves it, and compiled for this machine's architecture only.
	SeccompUnconfined bool
	// Reaped, when set, is where Run leaves the reaping of helper
	// processes that end with the command (the private network's
	// slirp4netns): each is killed when the command ends and waited for in
	// the background, counted on Reaped, so Run returns without waiting
	// for the kernel to tear down its network. The caller waits on it
	// before it exits. Nil means Run waits itself. It stays with the
	// caller: the child never receives it.
	Reaped Reaper
	// Insecure runs the command with every capability the kernel has
	// instead of Docker's default set, and without a seccomp filter
	// (RUN --security=insecure). Namespaces, the minimal /dev, nodev
	// mounts and no_new_privs stay.
	Insecure bool
}

// SecretFile is a secret the command sees as a read-only file.
type SecretFile struct {
	// Path is the absolute path of the file inside the sandbox.
	Path string
	// Data is the file's content.
	Data []byte
	// Mode holds the file's permission bits (0o400 for docker build).
	Mode os.FileMode
	// UID and GID own the file.
	UID, GID uint32
}

// Reaper counts helper processes still being reaped after Run returned;
// a *sync.WaitGroup is one.
type Reaper interface {
	Add(delta int)
	Done()
}

// Cgroup is a control group a sandbox runs in; *cgroup.Group (package
// internal/cgroup) is one. The caller makes it before Run and removes it
// afterwards.
type Cgroup interface {
	// CloneInto returns the open directory of a cgroup v2 group to start
	// the child in (CLONE_INTO_CGROUP), or nil where the child must be
	// moved in with Join.
	CloneInto() (*os.File, error)
	// Join moves the process pid into the group.
	Join(pid int) error
	// OOMKilled reports whether the kernel killed a process of the group
	// because the group ran out of memory.
	OOMKilled() (bool, error)
}

// DefaultHostname is the host name of a sandbox whose Spec names none.
const DefaultHostname = "sandbox"

// defaultPath is searched for Args[0] when Env sets no PATH; it is the PATH
// Docker gives containers.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Rootfs is the root filesystem of a sandbox: exactly one of Overlay and Dir
// is set.
type Rootfs struct {
	// Overlay stacks read-only lower directories under a writable upper
	// directory. The child mounts it inside its own mount namespace, so the
	// mount never exists in the caller's namespace.
	Overlay *Overlay
	// Dir is a plain directory used as the root (recursively bind-mounted),
	// for hosts without overlayfs. The command writes straight into it.
	Dir string
}

// Overlay is an overlayfs root filesystem. It is mounted with
// index=off,metacopy=off,redirect_dir=off so that UpperDir afterwards holds a
// plain diff of the step: whole copied-up files, whiteouts and opaque
// directories only.
type Overlay struct {
	// LowerDirs are the read-only layers, lowest first.
	LowerDirs []string
	// UpperDir receives the step's changes.
	UpperDir string
	// WorkDir is overlayfs's scratch directory, empty and on the same
	// filesystem as UpperDir.
	WorkDir string
}

// Network selects the network namespace of a sandbox.
type Network int

const (
	// NetworkHost shares the caller's network namespace.
	NetworkHost Network = iota
	// NetworkNone gives the sandbox a new network namespace holding only
	// the loopback interface, brought up.
	NetworkNone
	// NetworkPrivate gives the sandbox a new network namespace with
	// loopback and an interface (UserNetworkAddr) whose traffic goes out
	// through slirp4netns, a user-mode network stack: outbound connections
	// work, the host's own loopback services do not answer. Its DNS
	// server is UserNetworkDNS.
	NetworkPrivate
)

// String returns the name Docker uses for the network mode.
func (n Network) String() string {
	switch n {
	case NetworkHost:
		return "host"
	case NetworkNone:
		return "none"
	case NetworkPrivate:
		return "private"
	}
	return fmt.Sprintf("Network(%d)", int(n))
}

// Result is how the command of a sandbox ended.
type Result struct {
	// ExitCode is the command's exit status, or -1 when a signal killed it.
	ExitCode int
	// Signal is the signal that killed the command, or 0.
	Signal syscall.Signal
	// Stubs are the paths (slash-separated, relative to the root, parents
	// before children) the sandbox created in the root filesystem as
	// mountpoints because the image lacked them. They are artefacts of the
	// sandbox, not of the step.
	Stubs []string
	// OOMKilled is set when Spec.Cgroup reports that the kernel killed a
	// process of the step because the step reached its memory limit.
	OOMKilled bool
}

// ErrInvalidSpec is wrapped by the errors Run returns for a Spec it refuses
// before starting anything.
var ErrInvalidSpec = errors.New("invalid sandbox spec")

// normalize checks the spec and returns a copy with every host path made
// absolute and clean, so that the child, whose working directory changes
// during setup, sees the paths the caller meant.
func (s Spec) normalize() (Spec, error) {
	if len(s.Args) == 0 || s.Args[0] == "" {
		return s, fmt.Errorf("%w: no command", ErrInvalidSpec)
	}
	if s.Cwd == "" {
		s.Cwd = "/"
	}
	if !filepath.IsAbs(s.Cwd) {
		return s, fmt.Errorf("%w: working directory %q is not absolute", ErrInvalidSpec, s.Cwd)
	}
	if s.Hostname == "" {
		s.Hostname = DefaultHostname
	}
	for name := range s.DevFiles {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
			return s, fmt.Errorf("%w: device file name %q", ErrInvalidSpec, name)
		}
	}
	if err := checkSecrets(s.Secrets); err != nil {
		return s, err
	}
	var err error
	if s.Mounts, err = checkMounts(s.Mounts); err != nil {
		return s, err
	}
	if s.Network != NetworkHost && s.Network != NetworkNone && s.Network != NetworkPrivate {
		return s, fmt.Errorf("%w: unknown network mode %d", ErrInvalidSpec, int(s.Network))
	}
	if s.StateDir, err = hostPath("state directory", s.StateDir); err != nil {
		return s, err
	}
	switch {
	case s.Rootfs.Overlay != nil && s.Rootfs.Dir != "":
		return s, fmt.Errorf("%w: root filesystem has both an overlay and a directory", ErrInvalidSpec)
	case s.Rootfs.Overlay != nil:
		o, err := s.Rootfs.Overlay.normalize()
		if err != nil {
			return s, err
		}
		s.Rootfs.Overlay = &o
	case s.Rootfs.Dir != "":
		if s.Rootfs.Dir, err = hostPath("root directory", s.Rootfs.Dir); err != nil {
			return s, err
		}
	default:
		return s, fmt.Errorf("%w: no root filesystem", ErrInvalidSpec)
	}
	return s, nil
}

func (o Overlay) normalize() (Overlay, error) {
	if len(o.LowerDirs) == 0 {
		return o, fmt.Errorf("%w: overlay has no lower directory", ErrInvalidSpec)
	}
	lowers := make([]string, len(o.LowerDirs))
	for i, d := range o.LowerDirs {
		p, err := hostPath("overlay lower directory", d)
		if err != nil {
			return o, err
		}
		lowers[i] = p
	}
	o.LowerDirs = lowers
	var err error
	if o.UpperDir, err = hostPath("overlay upper directory", o.UpperDir); err != nil {
		return o, err
	}
	if o.WorkDir, err = hostPath("overlay work directory", o.WorkDir); err != nil {
		return o, err
	}
	if _, err := overlayMountData(o, pageSize()); err != nil {
		return o, err
	}
	return o, nil
}

// hostPath makes p absolute and clean, refusing what no mount call accepts.
func hostPath(what, p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("%w: no %s", ErrInvalidSpec, what)
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("%w: %s %q contains a NUL byte", ErrInvalidSpec, what, p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("resolving %s %s: %w", what, p, err)
	}
	if abs == "/" {
		return "", fmt.Errorf("%w: %s is the host's root", ErrInvalidSpec, what)
	}
	return abs, nil
}
