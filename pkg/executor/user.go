package executor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/ocibuilder/builder/internal/source"
)

// Identity is a resolved user: numeric ids as they land in the image.
type Identity struct {
	UID, GID uint32
	// Groups holds supplementary group ids (from /etc/group).
	Groups []uint32
	// Home is the user's home directory from /etc/passwd; "" when the
	// user has no entry there.
	Home string
}

// maxIDFileSize bounds how much of /etc/passwd or /etc/group is read.
const maxIDFileSize = 16 << 20

// parseChown resolves a --chown value ("user", "user:group", numeric or
// names) against the image's /etc/passwd and /etc/group. As in docker, a
// user without a group takes the user's primary group, or the same number
// when the user is numeric.
func parseChown(spec string, view source.FS) (Identity, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" {
		return Identity{}, fmt.Errorf("--chown=%s: empty user", spec)
	}
	var id Identity
	if n, ok := numericID(userPart); ok {
		id.UID, id.GID = n, n
	} else {
		e, err := lookupEntry(view, "etc/passwd", userPart)
		if err != nil {
			return Identity{}, fmt.Errorf("--chown=%s: %w", spec, err)
		}
		id.UID, id.GID, id.Home = e.id, e.gid, e.home
	}
	if hasGroup {
		if groupPart == "" {
			return Identity{}, fmt.Errorf("--chown=%s: empty group", spec)
		}
		if n, ok := numericID(groupPart); ok {
			id.GID = n
		} else {
			e, err := lookupEntry(view, "etc/group", groupPart)
			if err != nil {
				return Identity{}, fmt.Errorf("--chown=%s: %w", spec, err)
			}
			id.GID = e.id
		}
	}
	return id, nil
}

func numericID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

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

// resolveUser turns a USER value ("name", "uid", "name:group", …) into the
// ids a process runs with, as BuildKit's executor does: "uid:gid" in
// numbers (or "root") needs no /etc/passwd; a user's /etc/group
// memberships become supplementary groups only when USER names no group;
// and the primary group always leads the supplementary ones.
func resolveUser(spec string, view source.FS) (Identity, error) {
	if spec == "" {
		spec = "0"
	}
	userPart, groupPart, explicitGroup := strings.Cut(spec, ":")
	uid, uidOK := ownerID(userPart)
	gid, gidOK := ownerID(groupPart)
	if uidOK && gidOK {
		id := Identity{UID: uid, GID: gid, Groups: []uint32{gid}}
		if e, found, err := findEntryByID(view, uid); err == nil && found {
			id.Home = e.home
		}
		return id, nil
	}
	id, err := parseChown(spec, view)
	if err != nil {
		return Identity{}, err
	}
	name := userPart
	if _, numeric := numericID(userPart); numeric {
		// A numeric user takes its passwd entry's group, or group 0
		// when it has none (docker runs "USER 1234" as 1234:0), and
		// the supplementary groups of its passwd name.
		name = ""
		if !explicitGroup {
			id.GID = 0
		}
		if e, found, err := findEntryByID(view, id.UID); err == nil && found {
			name = e.name
			id.Home = e.home
			if !explicitGroup {
				id.GID = e.gid
			}
		}
	}
	id.Groups = []uint32{id.GID}
	if name == "" || explicitGroup {
		return id, nil
	}
	groups, err := readIDFile(view, "etc/group")
	if err != nil {
		return id, nil
	}
	for _, g := range groups {
		if !slices.Contains(id.Groups, g.id) && slices.Contains(g.members, name) {
			id.Groups = append(id.Groups, g.id)
		}
	}
	return id, nil
}

// findEntryByID finds the /etc/passwd entry of uid.
func findEntryByID(view source.FS, uid uint32) (idEntry, bool, error) {
	return findEntryBy(view, "etc/passwd", func(e idEntry) bool { return e.id == uid })
}

// workdirOwner resolves the owner of a directory WORKDIR creates, as
// BuildKit's mkdir resolves its user: "root" and numbers need no
// /etc/passwd (a number is also the group), and a user or group name the
// image does not know, or an image without the file, leaves the id at 0
// (a group, at the user's group). Only a process started as a user needs
// the name to exist (resolveUser).
func workdirOwner(spec string, view source.FS) (Identity, error) {
	userPart, groupPart, _ := strings.Cut(spec, ":")
	var id Identity
	if n, ok := ownerID(userPart); ok {
		id.UID, id.GID = n, n
	} else {
		e, found, err := findEntry(view, "etc/passwd", userPart)
		if err != nil {
			return Identity{}, fmt.Errorf("USER %s: %w", spec, err)
		}
		if found {
			id.UID, id.GID, id.Home = e.id, e.gid, e.home
		}
	}
	if groupPart == "" {
		return id, nil
	}
	if n, ok := ownerID(groupPart); ok {
		id.GID = n
		return id, nil
	}
	e, found, err := findEntry(view, "etc/group", groupPart)
	if err != nil {
		return Identity{}, fmt.Errorf("USER %s: %w", spec, err)
	}
	if found {
		id.GID = e.id
	}
	return id, nil
}

// ownerID is a numeric id, or 0 for "root", which BuildKit takes without
// reading the image's files.
func ownerID(s string) (uint32, bool) {
	if s == "root" {
		return 0, true
	}
	return numericID(s)
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
