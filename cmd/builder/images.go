package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/ocibuilder/builder/internal/units"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/oci/images"
	"github.com/ocibuilder/builder/pkg/oci/remote"
	"github.com/ocibuilder/builder/pkg/statedir"
	"github.com/spf13/cobra"
)

// state is the CLI's handle on the state directory: opened once per
// command and handed to the build, the image index and the outputs.
type state struct {
	dir    *statedir.State
	store  *oci.Store
	index  *images.Index
	remote remote.Options
}

// openState opens --root shared, so that a prune cannot remove what this
// command is using, with its store and image index.
func openState(ctx context.Context, g *globalFlags) (*state, error) {
	dir, err := statedir.Open(ctx, g.root, statedir.Shared)
	if err != nil {
		return nil, err
	}
	idx, err := images.Open(dir)
	if err != nil {
		return nil, errors.Join(err, dir.Close())
	}
	return &state{dir: dir, store: dir.Store(), index: idx, remote: remote.Options{Insecure: g.insecure}}, nil
}

func (s *state) close() error { return s.dir.Close() }

// image loads a stored image by name, digest or ID prefix.
func (s *state) image(ctx context.Context, ref string) (*oci.Image, error) {
	desc, err := s.index.Lookup(ctx, ref)
	if err != nil {
		return nil, err
	}
	return images.Load(ctx, s.store, desc)
}

func newImagesCommand(g *globalFlags) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "images",
		Short: "List the images kept in the state directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openState(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer st.close()
			list, err := st.index.List(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if quiet {
				for _, e := range list {
					fmt.Fprintln(out, e.Manifest.Digest)
				}
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tDIGEST\tCREATED\tSIZE")
			for _, e := range list {
				created := "-"
				if !e.Created.IsZero() {
					created = e.Created.UTC().Format(time.RFC3339)
				}
				size := units.FormatBytes(e.Size)
				if e.Err != nil {
					size = "damaged: " + e.Err.Error()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, e.Manifest.Digest.Encoded()[:12], created, size)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only manifest digests")
	return cmd
}

func newPushCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "push NAME[:TAG] [DESTINATION]",
		Short: "Push a stored image to a registry (to NAME, or to DESTINATION)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := openState(ctx, g)
			if err != nil {
				return err
			}
			defer st.close()
			img, err := st.image(ctx, args[0])
			if err != nil {
				return err
			}
			dest := args[len(args)-1]
			desc, err := remote.Push(ctx, img, dest, st.remote)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pushed %s@%s\n", dest, desc.Digest)
			return nil
		},
	}
}

func newSaveCommand(g *globalFlags) *cobra.Command {
	var out, format string
	cmd := &cobra.Command{
		Use:   "save -o FILE [--format oci|docker] IMAGE",
		Short: "Write a stored image to an archive",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if out == "" {
				return fmt.Errorf("save needs -o FILE (or -o - for standard output)")
			}
			st, err := openState(ctx, g)
			if err != nil {
				return err
			}
			defer st.close()
			img, err := st.image(ctx, args[0])
			if err != nil {
				return err
			}
			wo := oci.WriteOptions{}
			if n, err := oci.ParseImageName(args[0]); err == nil && n.Tag != "" {
				wo.RefNames = []string{args[0]}
			}
			switch {
			case format == "oci" && out == "-":
				return oci.WriteLayoutTar(ctx, img, cmd.OutOrStdout(), wo)
			case format == "oci":
				return oci.WriteLayoutTarFile(ctx, img, out, wo)
			case format == "docker" && out == "-":
				return oci.WriteDockerArchive(ctx, img, cmd.OutOrStdout(), wo)
			case format == "docker":
				return oci.WriteDockerArchiveFile(ctx, img, out, wo)
			}
			return fmt.Errorf("--format %q: want oci or docker", format)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "archive to write")
	cmd.Flags().StringVar(&format, "format", "oci", "archive format: oci or docker")
	return cmd
}

func newRmiCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rmi NAME [NAME...]",
		Short: "Remove image names (prune then frees what no name uses)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openState(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer st.close()
			for _, a := range args {
				if err := st.index.Untag(cmd.Context(), a); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "untagged %s\n", a)
			}
			return nil
		},
	}
}

func newPruneCommand(g *globalFlags) *cobra.Command {
	var keepStorage string
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove build cache, blobs and extracted layers no stored image uses",
		Long: `Remove from the state directory every blob and extracted layer that no named
image uses, the build cache records of the removed layers, and the scratch
space of builds that died. With --keep-storage, the most recently used build
cache layers are kept up to that size. Waits for running builds on the same
state directory to finish.`,
		Example: `  builder prune
  builder prune --keep-storage 10g`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var limit int64
			if keepStorage != "" {
				var err error
				if limit, err = units.ParseBytes(keepStorage); err != nil {
					return fmt.Errorf("--keep-storage: %w", err)
				}
			}
			if !statedir.Exists(g.root) {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to prune")
				return nil
			}
			dir, err := statedir.Open(cmd.Context(), g.root, statedir.Exclusive)
			if err != nil {
				return err
			}
			defer dir.Close()
			rep, err := images.Prune(cmd.Context(), dir, images.PruneOptions{KeepStorage: limit})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d blobs, %d layer directories and %d build cache records, %s freed\n",
				rep.Blobs, rep.LayerDirs, rep.CacheRecords, units.FormatBytes(rep.Bytes))
			return nil
		},
	}
	cmd.Flags().StringVar(&keepStorage, "keep-storage", "", `keep the most recently used build cache up to this size ("10g", "512m")`)
	return cmd
}
