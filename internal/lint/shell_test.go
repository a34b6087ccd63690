package lint

import (
	"strings"
	"testing"
)

// TestParseShellRedirections: a redirection's file descriptor and target
// are no arguments of the command.
func TestParseShellRedirections(t *testing.T) {
	for _, c := range []struct {
		script string
		want   string // commands' args joined by spaces, commands by " | "
	}{
		{"apt-get install -y curl > /dev/null 2>&1", "apt-get install -y curl"},
		{"apt-get install -y curl >/dev/null 2>&1 && rm -rf /var/lib/apt/lists/*", "apt-get install -y curl | rm -rf /var/lib/apt/lists/*"},
		{"make &>/dev/null", "make"},
		{"pip install flask>=2.0", "pip install flask"},
		{"pip install 'flask>=2.0' \"idna<4\"", "pip install flask>=2.0 idna<4"},
		{"echo a>>log; cat <in", "echo a | cat"},
		{"cat <<EOF >/etc/app.conf", "cat"},
		{"sort -o out < in.txt", "sort -o out"},
		{"echo 2 > x", "echo 2"},
	} {
		var got []string
		for _, sc := range parseShell(c.script).Commands {
			got = append(got, strings.Join(sc.Args, " "))
		}
		if g := strings.Join(got, " | "); g != c.want {
			t.Errorf("parseShell(%q) = %q, want %q", c.script, g, c.want)
		}
	}
}
