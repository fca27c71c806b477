package executor_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/ocibuilder/builder/pkg/executor"
	"github.com/ocibuilder/builder/pkg/executor/sandbox"
	"github.com/ocibuilder/builder/pkg/parser"
)

// serveText serves body over HTTP on addr until the test ends and returns
// the address it listens on.
func serveText(t *testing.T, addr, body string) string {
	t.Helper()
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, body)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// hostAddress is an IPv4 address of this host that is not loopback: a
// server there stands in for the internet, which a step reaches through
// its user-mode network as it would reach any other address.
func hostAddress(t *testing.T) string {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	t.Fatal("this host has no IPv4 address besides loopback")
	return ""
}

// httpProbe is a shell command writing to /name what an HTTP GET of addr
// answered (or nc's error).
func httpProbe(name, addr string) string {
	host, port, _ := strings.Cut(addr, ":")
	return fmt.Sprintf(`(printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 %s %s > /%s 2>&1 || true)`, host, port, name)
}

// TestRunNetworkReach: by default a step reaches the host's network
// addresses (a server on this host's own address stands in for the
// internet) but not the host's loopback services, neither at 127.0.0.1 nor
// through the user-mode network's gateway, and resolves names through the
// user-mode DNS forwarder. With the host's network the loopback server
// answers; RUN --network=host needs --allow network.host.
func TestRunNetworkReach(t *testing.T) {
	requireSandbox(t)
	if err := sandboxUserNetwork(); err != nil {
		t.Fatalf("the private network of RUN steps needs slirp4netns (make test-deps installs it): %v", err)
	}
	loop := serveText(t, "127.0.0.1:0", "loopback-answered")
	outside := serveText(t, hostAddress(t)+":0", "outside-answered")
	_, loopPort, _ := strings.Cut(loop, ":")
	probes := httpProbe("loop", loop) + " && " + httpProbe("gw", "10.0.2.2:"+loopPort) + " && " +
		httpProbe("outside", outside) + " && cat /etc/resolv.conf > /resolv"
	s := spec{base: busyboxBase(t), noContext: true, dockerfile: "FROM base\nRUN " + probes + "\n"}

	r := mustRunBuild(t, s, executor.SnapshotterOverlay, nil)
	if got := r.read(t, "outside"); !strings.Contains(got, "outside-answered") {
		t.Errorf("default network: the server on the host's address did not answer: %q", got)
	}
	for _, p := range []string{"loop", "gw"} {
		if got := r.read(t, p); strings.Contains(got, "loopback-answered") {
			t.Errorf("default network: the host's loopback server answered through %s: %q", p, got)
		}
	}
	if got := r.read(t, "resolv"); !strings.Contains(got, "nameserver 10.0.2.3\n") || strings.Count(got, "nameserver") != 1 {
		t.Errorf("default network: resolv.conf %q, want the user-mode DNS forwarder only", got)
	}

	r = mustRunBuild(t, s, executor.SnapshotterOverlay, func(o *executor.Options) { o.Network = executor.NetworkHost })
	if got := r.read(t, "loop"); !strings.Contains(got, "loopback-answered") {
		t.Errorf("host network: the loopback server did not answer: %q", got)
	}

	s.dockerfile = "FROM base\nRUN --network=host " + probes + "\n"
	_, err := runBuild(t, s, executor.SnapshotterOverlay, nil)
	var perr *parser.Error
	if !errors.As(err, &perr) || perr.Loc.Line != 2 || !strings.Contains(err.Error(), "--allow network.host") {
		t.Errorf("RUN --network=host without --allow: %v; want an error at line 2 naming --allow network.host", err)
	}
	r = mustRunBuild(t, s, executor.SnapshotterOverlay, func(o *executor.Options) {
		o.Allow = []executor.Entitlement{executor.EntitlementNetworkHost}
	})
	if got := r.read(t, "loop"); !strings.Contains(got, "loopback-answered") {
		t.Errorf("RUN --network=host with --allow: the loopback server did not answer: %q", got)
	}
}

// sandboxUserNetwork reports whether the private network can be made.
func sandboxUserNetwork() error { return sandbox.UserNetworkAvailable() }

// TestRunNetworkWithoutHelper: without slirp4netns a RUN step on the
// default network fails at its line, naming the package and --network
// host, and never falls back to the host's network; --network none and
// host still work.
func TestRunNetworkWithoutHelper(t *testing.T) {
	requireSandbox(t)
	s := spec{base: busyboxBase(t), noContext: true, dockerfile: "FROM base\nRUN cat /proc/net/dev > /dev-table\n"}
	t.Setenv("PATH", t.TempDir())
	_, err := runBuild(t, s, executor.SnapshotterOverlay, nil)
	var perr *parser.Error
	if !errors.As(err, &perr) || perr.Loc.Line != 2 || !strings.Contains(err.Error(), "slirp4netns") || !strings.Contains(err.Error(), "--network host") {
		t.Errorf("default network without slirp4netns: %v; want an error at line 2 naming slirp4netns and --network host", err)
	}
	for _, n := range []executor.NetworkMode{executor.NetworkNone, executor.NetworkHost} {
		mustRunBuild(t, s, executor.SnapshotterOverlay, func(o *executor.Options) { o.Network = n })
	}
}
