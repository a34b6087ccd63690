package lint

import (
	"slices"
	"testing"
)

// TestUnpinnedPip holds DL3013 to hadolint's idea of a pinned pip install.
func TestUnpinnedPip(t *testing.T) {
	for _, c := range []struct {
		run  string
		want []string
	}{
		{"pip install flask", []string{"flask"}},
		{"pip3 install --no-cache-dir flask==3.0 requests", []string{"requests"}},
		{"pip3.12 install -U flask", []string{"flask"}},
		{"python3 -m pip install flask", []string{"flask"}},
		{"pip install flask==3.0 'requests>=2' 'idna<4' 'six!=1.0' 'attrs~=23.1' 'x===1'", nil},
		{"pip install -r requirements.txt", nil},
		{"pip install --requirement requirements.txt flask", nil},
		{"pip install .", nil},
		{"pip install -e . flask", nil},
		{"pip install -c constraints.txt flask", nil},
		{"pip install --constraint=constraints.txt flask", nil},
		{"pip install ./dist/app-1.0-py3-none-any.whl dist/app-1.0.tar.gz ./lib", nil},
		{"pip install git+https://github.com/psf/requests@v2.32.3", nil},
		{"pip install git+https://github.com/psf/requests", []string{"git+https://github.com/psf/requests"}},
		{"pip install -i https://pypi.example/simple --trusted-host pypi.example flask", []string{"flask"}},
		{"pip install --index-url=https://pypi.example/simple flask", []string{"flask"}},
		{"pip install --target /opt/lib flask==3.0", nil},
		{"pip install $PACKAGES", nil},
		{"pip download flask", nil},
		{"pip install", nil},
		{"apt-get install -y python3-pip && pip install flask", []string{"flask"}},
		{"pipx install black", []string{"black"}},
		// Unquoted, ">=2" redirects to the file "=2": flask is not pinned.
		{"pip install flask>=2", []string{"flask"}},
		{"pip install 'flask>=2' > /dev/null 2>&1", nil},
	} {
		var got []string
		for _, sc := range parseShell(c.run).Commands {
			if isPipInstall(sc) {
				got = append(got, unpinnedPip(sc)...)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("unpinnedPip(%q) = %q, want %q", c.run, got, c.want)
		}
	}
}

// TestPipCacheDir holds DL3042 to hadolint's pip commands: pip3.12 and
// python3 -m pip count, pipx and pipenv do not.
func TestPipCacheDir(t *testing.T) {
	for _, c := range []struct {
		run  string
		want bool
	}{
		{"pip3.12 install flask==3", true},
		{"python3.12 -m pip install flask==3", true},
		{"pip install --no-cache-dir flask==3", false},
		{"PIP_NO_CACHE_DIR=1 pip install flask==3", false},
		{"pipx install black==24.1", false},
		{"pipenv install", false},
		{"python3 -m pipx install black==24.1", false},
	} {
		src := "FROM python:3.12-slim\nRUN " + c.run + "\nUSER app\n"
		if got := len(lintOne(t, src, "DL3042", nil)) > 0; got != c.want {
			t.Errorf("lint DL3042 %q = %v, want %v", c.run, got, c.want)
		}
	}
}

func TestPortOutOfRange(t *testing.T) {
	for _, c := range []struct {
		port string
		want bool
	}{
		{"80", false}, {"65535", false}, {"0", false}, {"65536", true}, {"80800/tcp", true},
		{"8000-8010/udp", false}, {"8000-70000", true}, {"99999999999999999999999", true},
		{"${PORT}", false}, {"$PORT/udp", false}, {"http", false}, {"127.0.0.1:8080:80", false}, {"8080:70000", true},
	} {
		if got := portOutOfRange(c.port); got != c.want {
			t.Errorf("portOutOfRange(%q) = %v, want %v", c.port, got, c.want)
		}
	}
}
