package rootfs

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// passwdEntry and groupEntry are the fields of /etc/passwd and /etc/group
// that USER and --chown need.
type passwdEntry struct {
	name     string
	uid, gid int
	home     string
}

type groupEntry struct {
	name    string
	gid     int
	members []string
}

// LookupUser resolves spec ("name", "uid", "name:group", "uid:gid") in the
// stack's /etc/passwd and /etc/group, as BuildKit's executor does for RUN
// (executor/oci GetUser, then runc's GetExecUser): "uid:gid" with both
// numeric or "root" needs no passwd; otherwise a name must exist; a uid not
// in passwd gets gid 0 and home "/"; a group given by name must exist;
// without a group, the supplementary groups are those listing the user as
// a member.
func LookupUser(s Stack, spec string) (User, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if hasGroup && isID(userPart) && isID(groupPart) {
		userPart, groupPart = rootID(userPart), rootID(groupPart)
	}
	users, err := readPasswd(s)
	if err != nil {
		return User{}, err
	}
	u := User{Home: "/"}
	var name string
	if id, err := strconv.Atoi(userPart); err == nil {
		u.UID = id
		for _, e := range users {
			if e.uid == id {
				u.GID, u.Home, name = e.gid, e.home, e.name
				break
			}
		}
	} else {
		e, ok := findUser(users, userPart)
		if !ok {
			return User{}, fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart)
		}
		u.UID, u.GID, u.Home, name = e.uid, e.gid, e.home, e.name
	}
	groups, err := readGroup(s)
	if err != nil {
		return User{}, err
	}
	if hasGroup {
		gid, err := groupID(groups, groupPart)
		if err != nil {
			return User{}, err
		}
		u.GID = gid
		return u, nil
	}
	for _, g := range groups {
		if name != "" && contains(g.members, name) {
			u.Groups = append(u.Groups, g.gid)
		}
	}
	return u, nil
}

// isID reports whether s is a numeric id or "root", which BuildKit's
// parseUID takes for 0 without a passwd file.
func isID(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil || s == "root"
}

func rootID(s string) string {
	if s == "root" {
		return "0"
	}
	return s
}

func groupID(groups []groupEntry, spec string) (int, error) {
	if id, err := strconv.Atoi(spec); err == nil {
		return id, nil
	}
	for _, g := range groups {
		if g.name == spec {
			return g.gid, nil
		}
	}
	return 0, fmt.Errorf("unable to find group %s: no matching entries in group file", spec)
}

// ChownOwner resolves a --chown value, or the USER a WORKDIR is created
// as, as BuildKit's FileOp does (client/llb WithUser, then
// solver/llbsolver/ops readUser): "root" is 0 without a lookup; a uid
// without a gid uses the uid as the gid; a user name takes its passwd uid
// and gid; a group name its /etc/group gid. Names not found, or a stage
// without passwd or group file, resolve to 0.
func ChownOwner(s Stack, spec string) (Owner, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	userPart, groupPart = rootID(userPart), rootID(groupPart)
	var o Owner
	if id, err := strconv.Atoi(userPart); err == nil {
		o = Owner{UID: id, GID: id}
	} else {
		users, err := readPasswd(s)
		if err != nil {
			return Owner{}, err
		}
		if e, ok := findUser(users, userPart); ok {
			o = Owner{UID: e.uid, GID: e.gid}
		}
	}
	if !hasGroup {
		return o, nil
	}
	if id, err := strconv.Atoi(groupPart); err == nil {
		o.GID = id
		return o, nil
	}
	groups, err := readGroup(s)
	if err != nil {
		return Owner{}, err
	}
	for _, g := range groups {
		if g.name == groupPart {
			o.GID = g.gid
			break
		}
	}
	return o, nil
}

func findUser(users []passwdEntry, name string) (passwdEntry, bool) {
	for _, e := range users {
		if e.name == name {
			return e, true
		}
	}
	return passwdEntry{}, false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func readPasswd(s Stack) ([]passwdEntry, error) {
	var out []passwdEntry
	err := readColonFile(s, "/etc/passwd", func(f []string) {
		if len(f) < 4 {
			return
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			return
		}
		e := passwdEntry{name: f[0], uid: uid, gid: gid}
		if len(f) > 5 {
			e.home = f[5]
		}
		out = append(out, e)
	})
	return out, err
}

func readGroup(s Stack) ([]groupEntry, error) {
	var out []groupEntry
	err := readColonFile(s, "/etc/group", func(f []string) {
		if len(f) < 3 {
			return
		}
		gid, err := strconv.Atoi(f[2])
		if err != nil {
			return
		}
		g := groupEntry{name: f[0], gid: gid}
		if len(f) > 3 && f[3] != "" {
			g.members = strings.Split(f[3], ",")
		}
		out = append(out, g)
	})
	return out, err
}

// readColonFile calls fn with the fields of each line of the file p in s
// (following symlinks inside s); a missing file has no lines.
func readColonFile(s Stack, p string, fn func([]string)) error {
	_, h, err := s.lookup(p, true)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !h.fi.Mode().IsRegular() {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	f, err := os.Open(h.host)
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fn(strings.Split(line, ":"))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	return nil
}
