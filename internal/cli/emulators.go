package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/strata-build/strata/internal/emulate"
	"github.com/strata-build/strata/internal/store"
)

func newEmulatorsCmd(g *globals) *cobra.Command {
	var install bool
	cmd := &cobra.Command{
		Use:   "emulators [--install]",
		Short: "Show which foreign platforms RUN steps can run on (QEMU through binfmt_misc), or register the missing emulators",
		Long: `Lists, for each platform this host cannot run natively, the binfmt_misc
handler that would run its RUN steps under QEMU user emulation: ready when
registered, enabled and with the F (fix-binary) flag, which the build sandbox
needs. --install registers every missing handler whose qemu-*-static is
installed (root on the host only); a build also does so by itself before the
first foreign step when it may.`,
		Args: argsRange(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEmulators(cmd.Context(), g, install)
		},
	}
	cmd.Flags().BoolVar(&install, "install", false, "register the missing handlers (root)")
	return cmd
}

func runEmulators(ctx context.Context, g *globals, install bool) error {
	var err error
	if install {
		err = emulate.Install(ctx)
	}
	tw := tabwriter.NewWriter(g.stdio.Out, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "PLATFORM\tSTATUS\tHANDLER\tFLAGS\tINTERPRETER")
	for _, h := range emulate.Status() {
		status := "ready"
		switch {
		case h.Name == "" && h.Emulator != "":
			status = "not registered (strata registers it when root)"
		case h.Name == "":
			status = "missing: apt-get install qemu-user-static binfmt-support"
		case !h.Enabled:
			status = "disabled"
		case !h.Ready():
			status = "no F flag: cannot run in the sandbox"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", store.FormatPlatform(h.Platform), status, dash(h.Name), dash(h.Flags), dash(h.Interpreter))
	}
	if ferr := tw.Flush(); ferr != nil {
		return ferr
	}
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
