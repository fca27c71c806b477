package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ocibuilder/builder/pkg/oci"
)

// output is one -o destination.
type output struct {
	typ  string // oci, local, docker or registry
	dest string
	tar  bool
}

func (o output) String() string {
	s := "type=" + o.typ + ",dest=" + o.dest
	if o.typ == "oci" && !o.tar {
		s += ",tar=false"
	}
	return s
}

// parseOutputs parses -o values the way buildx does: comma-separated
// key=value pairs, or a bare path meaning type=local,dest=PATH.
func parseOutputs(vals []string) ([]output, error) {
	var outs []output
	for _, v := range vals {
		o, err := parseOutput(v)
		if err != nil {
			return nil, fmt.Errorf("-o %s: %w", v, err)
		}
		outs = append(outs, o)
	}
	return outs, nil
}

func parseOutput(v string) (output, error) {
	if v == "" {
		return output{}, fmt.Errorf("empty output")
	}
	if !strings.Contains(v, "=") {
		if v == "-" {
			return output{typ: "oci", dest: "-", tar: true}, nil
		}
		return output{typ: "local", dest: v}, nil
	}
	o := output{tar: true}
	for _, field := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(field, "=")
		if !ok {
			return output{}, fmt.Errorf("%q: want key=value", field)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "type":
			o.typ = val
		case "dest":
			o.dest = val
		case "tar":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return output{}, fmt.Errorf("tar=%s: want true or false", val)
			}
			o.tar = b
		case "name":
			// Accepted for buildx compatibility; -t sets the names.
		default:
			return output{}, fmt.Errorf("unknown attribute %q", k)
		}
	}
	switch o.typ {
	case "oci", "docker":
	case "registry":
		return o, nil
	case "image":
		return output{}, fmt.Errorf("output type image: use type=registry to push, or no -o to keep the image locally")
	case "local":
		if o.dest == "-" {
			return output{}, fmt.Errorf("type=local cannot write to standard output")
		}
	case "":
		return output{}, fmt.Errorf("type is missing")
	case "tar":
		return output{}, fmt.Errorf("output type %q is not supported; use type=oci, docker or local", o.typ)
	default:
		return output{}, fmt.Errorf("unknown output type %q", o.typ)
	}
	if o.dest == "" {
		return output{}, fmt.Errorf("dest is missing")
	}
	if o.typ == "docker" && !o.tar {
		return output{}, fmt.Errorf("type=docker writes an archive; tar=false is not supported")
	}
	if o.dest == "-" && !o.tar {
		return output{}, fmt.Errorf("tar=false cannot write to standard output")
	}
	return o, nil
}

// write produces the output. Every form appears whole or not at all.
func (o output) write(ctx context.Context, img *oci.Image, wo oci.WriteOptions, stdout io.Writer) error {
	switch {
	case o.typ == "local":
		return oci.WriteRootfs(ctx, img, o.dest, wo)
	case o.typ == "docker" && o.dest == "-":
		return oci.WriteDockerArchive(ctx, img, stdout, wo)
	case o.typ == "docker":
		return oci.WriteDockerArchiveFile(ctx, img, o.dest, wo)
	case o.dest == "-":
		return oci.WriteLayoutTar(ctx, img, stdout, wo)
	case o.tar:
		return oci.WriteLayoutTarFile(ctx, img, o.dest, wo)
	default:
		return oci.WriteLayout(ctx, img, o.dest, wo)
	}
}
