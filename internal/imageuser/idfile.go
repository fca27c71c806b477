package imageuser

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"syscall"

	"github.com/ocibuilder/builder/internal/source"
)

// maxIDFileSize bounds how much of /etc/passwd or /etc/group is read.
const maxIDFileSize = 16 << 20

// idEntry is a line of /etc/passwd (id is the uid) or /etc/group (id is
// the gid).
type idEntry struct {
	name    string
	id, gid uint32
	home    string
	members []string
}

// lookupEntry finds name in a passwd- or group-format file of the image.
func lookupEntry(view source.FS, file, name string) (idEntry, error) {
	e, found, err := findEntryBy(view, file, func(e idEntry) bool { return e.name == name })
	if err != nil || found {
		return e, err
	}
	kind := "user"
	if file == "etc/group" {
		kind = "group"
	}
	return idEntry{}, fmt.Errorf("unknown %s %q (not in /%s)", kind, name, file)
}

// findEntryBy returns the first entry of a passwd- or group-format file of
// the image that match accepts.
func findEntryBy(view source.FS, file string, match func(idEntry) bool) (idEntry, bool, error) {
	entries, err := readIDFile(view, file)
	if err != nil {
		return idEntry{}, false, err
	}
	for _, e := range entries {
		if match(e) {
			return e, true, nil
		}
	}
	return idEntry{}, false, nil
}

// missingIDFileError is an image without /etc/passwd or /etc/group. It
// matches fs.ErrNotExist.
type missingIDFileError struct{ file string }

func (e *missingIDFileError) Error() string { return "/" + e.file + " does not exist in the image" }
func (e *missingIDFileError) Unwrap() error { return fs.ErrNotExist }

// readIDFile parses /etc/passwd ("name:x:uid:gid:...") or /etc/group
// ("name:x:gid:members"). Malformed lines are skipped, as libc does.
func readIDFile(view source.FS, file string) ([]idEntry, error) {
	p, err := view.Resolve(file, true)
	if err != nil {
		return nil, fmt.Errorf("reading /%s: %w", file, err)
	}
	f, err := view.Open(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, &missingIDFileError{file: file}
	}
	if err != nil {
		return nil, fmt.Errorf("reading /%s: %w", file, err)
	}
	defer f.Close()
	var out []idEntry
	sc := bufio.NewScanner(io.LimitReader(f, maxIDFileSize))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	group := file == "etc/group"
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ":")
		if len(fields) < 3 {
			continue
		}
		id, ok := numericID(fields[2])
		if !ok {
			continue
		}
		e := idEntry{name: fields[0], id: id}
		if group {
			if len(fields) > 3 && fields[3] != "" {
				e.members = strings.Split(fields[3], ",")
			}
		} else {
			if len(fields) < 4 {
				continue
			}
			gid, ok := numericID(fields[3])
			if !ok {
				continue
			}
			e.gid = gid
			if len(fields) > 5 {
				e.home = fields[5]
			}
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading /%s: %w", file, err)
	}
	return out, nil
}

// findEntryByID finds the /etc/passwd entry of uid.
func findEntryByID(view source.FS, uid uint32) (idEntry, bool, error) {
	return findEntryBy(view, "etc/passwd", func(e idEntry) bool { return e.id == uid })
}

// findEntry is lookupEntry where an unknown name or a missing file is not
// an error.
func findEntry(view source.FS, file, name string) (idEntry, bool, error) {
	e, found, err := findEntryBy(view, file, func(e idEntry) bool { return e.name == name })
	if errors.Is(err, fs.ErrNotExist) {
		return idEntry{}, false, nil
	}
	return e, found, err
}
