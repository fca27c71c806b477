package imageuser

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

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

// Chown resolves a COPY or ADD --chown value ("user", "user:group",
// numbers or names) against the /etc/passwd and /etc/group of view, the
// image the copy writes to. Supplementary groups are not looked up.
func Chown(value string, view source.FS) (Identity, error) {
	return parseChown(chownSpec(value), view)
}

// chownSpec reads an empty user in a --chown value as root and an empty
// group as none given, as docker does: "--chown=$U:$G" with neither set
// keeps the default ownership.
func chownSpec(s string) string {
	u, g, _ := strings.Cut(s, ":")
	if u == "" {
		u = "0"
	}
	if g == "" {
		return u
	}
	return u + ":" + g
}

// ChownByName reports whether a --chown value names its user or group
// instead of giving numbers, so that resolving it reads the image's
// /etc/passwd or /etc/group.
func ChownByName(value string) bool {
	u, g, hasGroup := strings.Cut(chownSpec(value), ":")
	if _, ok := numericID(u); !ok {
		return true
	}
	_, ok := numericID(g)
	return hasGroup && !ok
}

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

// Resolve turns a USER value ("name", "uid", "name:group", …) into the
// ids a process runs with, as BuildKit's executor does: "uid:gid" in
// numbers (or "root") needs no /etc/passwd; a user's /etc/group
// memberships become supplementary groups only when USER names no group;
// and the primary group always leads the supplementary ones.
func Resolve(spec string, view source.FS) (Identity, error) {
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

// WorkdirOwner resolves the owner of a directory WORKDIR creates for the
// USER value spec, as
// BuildKit's mkdir resolves its user: "root" and numbers need no
// /etc/passwd (a number is also the group), and a user or group name the
// image does not know, or an image without the file, leaves the id at 0
// (a group, at the user's group). Only a process started as a user needs
// the name to exist (Resolve).
func WorkdirOwner(spec string, view source.FS) (Identity, error) {
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

// numericID parses a decimal user or group id.
func numericID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}
