// Package sshforward gives RUN --mount=type=ssh steps an SSH agent: the
// builder's own agent socket forwarded, or private key files served by an
// agent in the builder process. The step reaches it through a socket
// bound into its sandbox; the keys never enter the sandbox.
package sshforward

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Agent is one --ssh id: a socket to forward to, or a keyring.
type Agent struct {
	// ID is the name RUN --mount=type=ssh,id= uses.
	ID      string
	socket  string
	keyring agent.Agent
}

// New returns the agent for id from paths: one path to a unix socket (an
// ssh-agent's), or any number of private key files in OpenSSH, PEM or
// PKCS#8 form without a passphrase.
func New(id string, paths []string) (*Agent, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("ssh %s: no agent socket or key file", id)
	}
	if fi, err := os.Stat(paths[0]); err == nil && fi.Mode().Type() == os.ModeSocket {
		if len(paths) > 1 {
			return nil, fmt.Errorf("ssh %s: an agent socket cannot be mixed with key files", id)
		}
		return &Agent{ID: id, socket: paths[0]}, nil
	}
	kr := agent.NewKeyring()
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("ssh %s: %w", id, err)
		}
		key, err := ssh.ParseRawPrivateKey(raw)
		var pp *ssh.PassphraseMissingError
		if errors.As(err, &pp) {
			return nil, fmt.Errorf("ssh %s: %s is protected by a passphrase: load it into ssh-agent and give its socket instead", id, p)
		}
		if err != nil {
			return nil, fmt.Errorf("ssh %s: %s: %w", id, p, err)
		}
		if err := kr.Add(agent.AddedKey{PrivateKey: key, Comment: p}); err != nil {
			return nil, fmt.Errorf("ssh %s: %s: %w", id, p, err)
		}
	}
	return &Agent{ID: id, keyring: kr}, nil
}

// Listener is an agent socket served for one step.
type Listener struct {
	l     net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// Listen serves the agent on a new unix socket at path, owned by uid:gid
// with mode, until Close.
func (a *Agent) Listen(path string, uid, gid int, mode os.FileMode) (*Listener, error) {
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", a.ID, err)
	}
	if err := os.Chown(path, uid, gid); err == nil {
		err = os.Chmod(path, mode)
	}
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("ssh %s: %w", a.ID, err)
	}
	s := &Listener{l: l, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if !s.track(c) {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.untrack(c)
				a.serve(c)
			}()
		}
	}()
	return s, nil
}

// serve answers one connection of the step.
func (a *Agent) serve(c net.Conn) {
	if a.keyring != nil {
		_ = agent.ServeAgent(a.keyring, c)
		return
	}
	up, err := net.Dial("unix", a.socket)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(up, c)
		if cw, ok := up.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		close(done)
	}()
	_, _ = io.Copy(c, up)
	c.Close()
	<-done
}

func (s *Listener) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		c.Close()
		return false
	}
	s.conns[c] = true
	return true
}

func (s *Listener) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.Close()
	delete(s.conns, c)
}

// Close stops serving and ends every connection the step left open.
func (s *Listener) Close() error {
	err := s.l.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
	s.wg.Wait()
	return err
}
