package executor_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/ocibuilder/builder/pkg/executor"
	"github.com/ocibuilder/builder/pkg/executor/sandbox"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/parser"
)

// Example builds a FROM scratch image from a build context and writes it
// as an OCI image layout. A program calls sandbox.Init first in main, before
// Build (here TestMain has).
func Example() {
	sandbox.Init() // in a sandbox child this never returns

	tmp, err := os.MkdirTemp("", "executor-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	contextDir := filepath.Join(tmp, "context")
	if err := os.MkdirAll(contextDir, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(contextDir, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		log.Fatal(err)
	}

	dockerfile := `FROM scratch
COPY hello.txt /srv/
WORKDIR /srv
CMD ["cat", "hello.txt"]
`
	g, err := parser.Parse(strings.NewReader(dockerfile), parser.Options{Filename: "Dockerfile"})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	img, err := executor.Build(ctx, g, executor.Options{
		Root:    filepath.Join(tmp, "state"),
		Context: contextDir,
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := oci.WriteLayout(ctx, img, filepath.Join(tmp, "out"), oci.WriteOptions{RefNames: []string{"hello:1.0"}}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("layers:", len(img.Layers))
	fmt.Println("workdir:", img.Config.Config.WorkingDir)
	fmt.Println("cmd:", img.Config.Config.Cmd)
	// Output:
	// layers: 1
	// workdir: /srv
	// cmd: [cat hello.txt]
}
