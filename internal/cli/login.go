package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/strata-build/strata/internal/registry"
)

type loginFlags struct {
	username, password string
	passwordStdin      bool
}

func newLoginCmd(g *globals) *cobra.Command {
	f := &loginFlags{}
	cmd := &cobra.Command{
		Use:   "login [SERVER]",
		Short: "Log in to a registry (Docker's config.json and credential helpers)",
		Long: `Log in to a registry, as docker login does: the credentials are checked
against the registry, then kept where Docker keeps them: the credential
helper config.json names (credsStore, credHelpers), else config.json
itself ($DOCKER_CONFIG, default ~/.docker). Without SERVER, Docker Hub.
pull, push, build and --cache-to/--cache-from then use them, as does
docker. Prefer --password-stdin to --password, which other users of the
machine can read in the process list.`,
		Args: argsRange(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			return runLogin(cmd, g, f, server)
		},
	}
	cmd.Flags().StringVarP(&f.username, "username", "u", "", "username")
	cmd.Flags().StringVarP(&f.password, "password", "p", "", "password or token (visible to other users: use --password-stdin)")
	cmd.Flags().BoolVar(&f.passwordStdin, "password-stdin", false, "read the password or token from stdin")
	return cmd
}

func runLogin(cmd *cobra.Command, g *globals, f *loginFlags, server string) error {
	if f.password != "" && f.passwordStdin {
		return usageError{errors.New("--password and --password-stdin are mutually exclusive")}
	}
	if f.passwordStdin && f.username == "" {
		return usageError{errors.New("--password-stdin needs --username")}
	}
	if f.password != "" {
		fmt.Fprintln(g.stdio.Err, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
	}
	user, pass, err := f.credentials(g.stdio, server)
	if err != nil {
		return err
	}
	key := registry.AuthKey(server)
	if err := g.registryClient("").Login(cmd.Context(), server, user, pass); err != nil {
		return err
	}
	cf, err := loadDockerConfig()
	if err != nil {
		return err
	}
	auth := types.AuthConfig{Username: user, Password: pass, ServerAddress: key}
	if err := cf.GetCredentialsStore(key).Store(auth); err != nil {
		return fmt.Errorf("storing credentials for %s: %w", key, err)
	}
	if err := cf.Save(); err != nil {
		return fmt.Errorf("saving %s: %w", cf.Filename, err)
	}
	fmt.Fprintln(g.stdio.Out, "Login Succeeded")
	return nil
}

// credentials are the username and password of the flags, stdin, or
// asked for on the terminal.
func (f *loginFlags) credentials(stdio Stdio, server string) (string, string, error) {
	user, pass := f.username, f.password
	if f.passwordStdin {
		b, err := io.ReadAll(io.LimitReader(stdio.In, 1<<20))
		if err != nil {
			return "", "", fmt.Errorf("reading the password from stdin: %w", err)
		}
		pass = strings.TrimRight(string(b), "\r\n")
	}
	if user != "" && pass != "" {
		return user, pass, nil
	}
	in, ok := stdio.In.(*os.File)
	if !ok || !isTerminal(in) || !hasTermios(in) {
		return "", "", usageError{errors.New("no username or password given and stdin is not a terminal: use --username and --password-stdin")}
	}
	r := bufio.NewReader(in)
	if user == "" {
		fmt.Fprintf(stdio.Out, "Username (%s): ", registry.AuthKey(server))
		line, err := r.ReadString('\n')
		if err != nil {
			return "", "", fmt.Errorf("reading the username: %w", err)
		}
		if user = strings.TrimSpace(line); user == "" {
			return "", "", usageError{errors.New("no username given")}
		}
	}
	if pass == "" {
		fmt.Fprint(stdio.Out, "Password: ")
		p, err := readPassword(in)
		fmt.Fprintln(stdio.Out)
		if err != nil {
			return "", "", fmt.Errorf("reading the password: %w", err)
		}
		if pass = p; pass == "" {
			return "", "", usageError{errors.New("no password given")}
		}
	}
	return user, pass, nil
}

// hasTermios reports whether f is a terminal whose echo can be turned off.
func hasTermios(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// readPassword reads a line from the terminal f with echo off.
func readPassword(f *os.File) (string, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old) //nolint:errcheck // best effort restore
	var b []byte
	buf := make([]byte, 1)
	for {
		n, err := f.Read(buf)
		if n == 1 && buf[0] != '\n' && buf[0] != '\r' {
			b = append(b, buf[0])
			continue
		}
		if n == 1 || errors.Is(err, io.EOF) {
			return string(b), nil
		}
		if err != nil {
			return "", err
		}
	}
}

func newLogoutCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry (removes the credentials login stored)",
		Args:  argsRange(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			return runLogout(g, server)
		},
	}
}

func runLogout(g *globals, server string) error {
	key := registry.AuthKey(server)
	cf, err := loadDockerConfig()
	if err != nil {
		return err
	}
	store := cf.GetCredentialsStore(key)
	if a, err := store.Get(key); err != nil || (a.Username == "" && a.Password == "" && a.IdentityToken == "" && a.Auth == "") {
		fmt.Fprintf(g.stdio.Out, "Not logged in to %s\n", key)
		return nil
	}
	fmt.Fprintf(g.stdio.Out, "Removing login credentials for %s\n", key)
	if err := store.Erase(key); err != nil {
		return fmt.Errorf("removing credentials for %s: %w", key, err)
	}
	if err := cf.Save(); err != nil {
		return fmt.Errorf("saving %s: %w", cf.Filename, err)
	}
	return nil
}

// loadDockerConfig reads Docker's config.json ($DOCKER_CONFIG or
// ~/.docker), the file pulls and pushes read credentials from.
func loadDockerConfig() (*configfile.ConfigFile, error) {
	cf, err := config.Load(config.Dir())
	if err != nil {
		return nil, fmt.Errorf("reading Docker's config: %w", err)
	}
	return cf, nil
}
