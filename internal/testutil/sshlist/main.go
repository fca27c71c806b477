// Command sshlist prints the SHA256 fingerprints of the keys the SSH agent
// at $SSH_AUTH_SOCK holds, one per line, and signs a message with each to
// prove the agent answers for them. Tests run it inside RUN steps.
package main

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sshlist:", err)
		os.Exit(1)
	}
}

func run() error {
	conn, err := net.Dial("unix", os.Getenv("SSH_AUTH_SOCK"))
	if err != nil {
		return err
	}
	defer conn.Close()
	a := agent.NewClient(conn)
	keys, err := a.List()
	if err != nil {
		return err
	}
	for _, k := range keys {
		sig, err := a.Sign(k, []byte("message"))
		if err != nil {
			return err
		}
		if err := k.Verify([]byte("message"), sig); err != nil {
			return err
		}
		fmt.Println(ssh.FingerprintSHA256(k))
	}
	return nil
}
