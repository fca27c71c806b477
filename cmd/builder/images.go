package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ocibuilder/builder/internal/units"
	"github.com/ocibuilder/builder/pkg/oci"
	"github.com/ocibuilder/builder/pkg/oci/images"
	"github.com/ocibuilder/builder/pkg/oci/remote"
	"github.com/ocibuilder/builder/pkg/statedir"
	"github.com/spf13/cobra"
)

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
			return withImage(ctx, g, args[0], func(st *state, img *oci.Image) error {
				dest := args[len(args)-1]
				desc, err := remote.Push(ctx, img, dest, st.remote)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "pushed %s@%s\n", dest, desc.Digest)
				return nil
			})
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
			return withImage(ctx, g, args[0], func(_ *state, img *oci.Image) error {
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
			})
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
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove build cache, blobs and extracted layers no stored image uses",
		Long: `Remove from the state directory every blob and extracted layer that no named
image uses, the build cache records of the removed layers, and the scratch
space of builds that died, and the caches of RUN --mount=type=cache. With
--keep-storage, the most recently used build cache layers and cache mounts
are kept up to that size, together. --filter type=exec.cachemount removes
only cache mounts, type!=exec.cachemount everything else. Waits for running
builds on the same state directory to finish.`,
		Example: `  builder prune
  builder prune --keep-storage 10g
  builder prune --filter type=exec.cachemount`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var limit int64
			if keepStorage != "" {
				var err error
				if limit, err = units.ParseBytes(keepStorage); err != nil {
					return fmt.Errorf("--keep-storage: %w", err)
				}
			}
			only, err := pruneFilter(filters)
			if err != nil {
				return err
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
			rep, err := images.Prune(cmd.Context(), dir, images.PruneOptions{KeepStorage: limit, Only: only})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d blobs, %d layer directories, %d build cache records and %d cache mounts, %s freed\n",
				rep.Blobs, rep.LayerDirs, rep.CacheRecords, rep.CacheMounts, units.FormatBytes(rep.Bytes))
			return nil
		},
	}
	cmd.Flags().StringVar(&keepStorage, "keep-storage", "", `keep the most recently used build cache up to this size ("10g", "512m")`)
	cmd.Flags().StringArrayVar(&filters, "filter", nil, `remove only what matches: "type=exec.cachemount" or "type!=exec.cachemount"`)
	return cmd
}

// pruneFilter reads prune's --filter values, docker builder prune's
// syntax for the one key the state directory can tell apart.
func pruneFilter(filters []string) (images.PruneKind, error) {
	only := images.PruneEverything
	for _, f := range filters {
		var kind images.PruneKind
		switch strings.ReplaceAll(f, " ", "") {
		case "type=exec.cachemount", "type==exec.cachemount":
			kind = images.PruneCacheMounts
		case "type!=exec.cachemount":
			kind = images.PruneExceptCacheMounts
		default:
			return 0, fmt.Errorf("--filter %q: supported filters are type=exec.cachemount and type!=exec.cachemount", f)
		}
		if only != images.PruneEverything && only != kind {
			return 0, fmt.Errorf("--filter %q contradicts an earlier --filter", f)
		}
		only = kind
	}
	return only, nil
}
