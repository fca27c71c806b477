// Package executor runs a parsed Dockerfile graph and returns the target
// stage's image: it resolves each stage's base, applies every step to the
// stage's image config and filesystem, and writes one layer per
// filesystem-changing step into the content store of a state directory.
//
// Call sandbox.Init() first in main (and in TestMain of tests that build):
// RUN steps re-execute the program as a sandbox child, which Init takes over
// before the program's own code runs. Build checks that Init ran before it
// starts anything and otherwise fails with an error wrapping
// sandbox.ErrNoInit ("call sandbox.Init() first in main: …").
//
// A build in outline:
//
//	g, err := parser.Parse(dockerfile, parser.Options{Filename: "Dockerfile"})
//	img, err := executor.Build(ctx, g, executor.Options{Root: "/var/lib/builder", Context: "."})
//	err = oci.WriteLayoutTarFile(ctx, img, "app.tar", oci.WriteOptions{})
//
// Stages run in parallel as soon as the stages they read are done
// (Options.Jobs at once). Each COPY, ADD, RUN and WORKDIR goes through the
// step cache of the state directory: its key covers the instruction, the
// files it reads (by content), the build args it uses and the layers below
// it, so an unchanged step reuses its layer and a changed one says why in a
// StepCacheMiss event. RUN steps run in a sandbox (namespaces, a seccomp
// filter, a cgroup with Options.Limits) on an overlay mount of the stage's
// layers, or on a copy of them where overlayfs cannot be mounted
// (Options.Snapshotter); the layer is the difference the step made.
//
// Errors name the Dockerfile line: a *parser.Error for a step that could
// not be run, a *StepError for a RUN command that failed (exit code, signal
// or out of memory, and its last lines of output). Progress receives an
// Event for every step's start, output, cache result and end.
//
// Build writes only inside the state directory; the image it returns has
// its blobs there, and pkg/oci writes it out as a layout, a tar or a
// docker archive.
package executor
