package sandbox

import "testing"

func TestRuntimeStartError(t *testing.T) {
	for _, tc := range []struct {
		out  string
		code int
		msg  string
	}{
		{`time="2026-12-07T07:05:35Z" level=error msg="runc run failed: unable to start container process: exec: \"nope\": executable file not found in $PATH"` + "\n",
			127, `starting process: exec: "nope": executable file not found in $PATH`},
		{`time="x" level=error msg="runc run failed: unable to start container process: exec: \"/no/such\": stat /no/such: no such file or directory"`,
			127, `starting process: exec: "/no/such": stat /no/such: no such file or directory`},
		{`time="x" level=error msg="runc run failed: unable to start container process: exec: \"/etc\": permission denied"`,
			126, `starting process: exec: "/etc": permission denied`},
		{"2026-12-07T07:05:35.000000Z: crun: executable file `nope` not found in $PATH: No such file or directory\n",
			127, "starting process: executable file `nope` not found in $PATH: No such file or directory"},
		{"crun: exec `/etc/passwd`: Permission denied\n", 126, "starting process: exec `/etc/passwd`: Permission denied"},
		{`time="x" level=error msg="runc run failed: cgroup: permission denied"`, 0, ""},
		{"", 0, ""},
	} {
		se := runtimeStartError(tc.out)
		switch {
		case tc.code == 0 && se != nil:
			t.Errorf("runtimeStartError(%q) = %+v, want nil", tc.out, se)
		case tc.code != 0 && (se == nil || se.Code != tc.code || se.Msg != tc.msg):
			t.Errorf("runtimeStartError(%q) = %+v, want %d %q", tc.out, se, tc.code, tc.msg)
		}
	}
}
