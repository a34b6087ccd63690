package lint

import (
	"fmt"
	"slices"
	"strings"
)

func emulatedCompile() Rule {
	return Rule{
		ID: "EmulatedCompile", Family: Strata, Severity: Warning,
		Summary: "A compiler that cross-compiles should run on the build platform, not emulated on the target's",
		URL:     docURL("emulatedcompile"),
		Fix:     "build in a stage FROM --platform=$BUILDPLATFORM, compile for $TARGETOS/$TARGETARCH (ARG TARGETOS TARGETARCH) and COPY --from the result into the target stage",
		Check:   checkEmulatedCompile,
	}
}

// compiler is a toolchain that cross-compiles natively: how to recognise
// its command, and how to target a platform instead of emulating it.
type compiler struct {
	why   string // why it need not run on the target, for the message
	match func(simpleCommand) bool
	fix   func(targets []string) string
}

// compilers are the toolchains the rule knows, in the order it reports.
var compilers = []compiler{
	{"Go cross-compiles natively", func(c simpleCommand) bool { return c.is("go", "build") || c.is("go", "install") },
		func([]string) string {
			return "FROM --platform=$BUILDPLATFORM golang:... AS build, ARG TARGETOS TARGETARCH, then RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build ... (GOARM from $TARGETVARIANT for arm); COPY --from=build the binary into the target stage"
		}},
	{"cargo cross-compiles with --target", func(c simpleCommand) bool { return c.is("cargo", "build") || c.is("cargo", "install") },
		func(ts []string) string {
			return "FROM --platform=$BUILDPLATFORM rust:... AS build, add the target's toolchain and linker, then cargo build --target " + mapped(ts, rustTriple)
		}},
	{"zig cross-compiles with -target", func(c simpleCommand) bool { return c.is("zig", "build") || c.is("zig", "cc") || c.is("zig", "c++") },
		func(ts []string) string {
			return "FROM --platform=$BUILDPLATFORM ... AS build, then zig build -Dtarget=" + mapped(ts, zigTarget) + " (zig cc -target ...)"
		}},
	{"dotnet builds for any runtime with -r", func(c simpleCommand) bool { return c.is("dotnet", "publish") || c.is("dotnet", "build") },
		func(ts []string) string {
			return "FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:... AS build, ARG TARGETARCH, then dotnet publish -r " + mapped(ts, dotnetRID) +
				" (map $TARGETARCH: amd64 is linux-x64, arm64 linux-arm64, arm linux-arm)"
		}},
	{"Java bytecode does not depend on the platform", func(c simpleCommand) bool {
		return c.is("mvn") || c.is("mvnw") || c.is("gradle") || c.is("gradlew") || c.is("javac")
	}, func([]string) string {
		return "bytecode does not depend on the platform: build in a stage FROM --platform=$BUILDPLATFORM and COPY --from it the jar into the target stage"
	}},
}

// checkEmulatedCompile flags a RUN that compiles with a cross-compiling
// toolchain in a stage that runs on a target platform other than the
// build platform, so under emulation (QEMU), several times slower than
// compiling for that target on the build platform. It needs the targets:
// without in.Platforms, or when every target is the build platform, it
// reports nothing.
func checkEmulatedCompile(in *Input) []Problem {
	foreign := in.foreignTargets()
	if len(foreign) == 0 {
		return nil
	}
	var out []Problem
	for _, i := range in.builtStages() {
		if !in.runsOnTarget(i) {
			continue
		}
		for _, r := range in.runs(i) {
			if c, cmd, ok := findCompiler(in.shell(r)); ok {
				out = append(out, Problem{Line: line(r), Fix: c.fix(foreign), Message: fmt.Sprintf(
					"%q in stage %q runs emulated for %s (the build runs on %s); %s: build on $BUILDPLATFORM instead",
					cmd, in.stageName(i), strings.Join(foreign, ", "), in.BuildPlatform, c.why)})
			}
		}
	}
	return out
}

// findCompiler is the first compiler the script runs, with its command
// line as written (at most its first three words).
func findCompiler(sh shellScript) (compiler, string, bool) {
	for _, sc := range sh.Commands {
		for len(sc.Args) > 1 && sc.Args[0] == "env" { // env K=V cmd
			sc = newSimpleCommand(sc.Args[1:])
		}
		for _, c := range compilers {
			if c.match(sc) {
				return c, strings.Join(sc.Args[:min(len(sc.Args), 2)], " "), true
			}
		}
	}
	return compiler{}, "", false
}

// foreignTargets are the target platforms other than the build platform.
func (in *Input) foreignTargets() []string {
	if in.BuildPlatform == "" {
		return nil
	}
	var out []string
	for _, p := range in.Platforms {
		if p != in.BuildPlatform && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// builtStages are the indexes of the stages the plan builds (every stage
// without a plan).
func (in *Input) builtStages() []int {
	var out []int
	if in.Plan != nil {
		for _, st := range in.Plan.Order {
			out = append(out, st.Index)
		}
		return out
	}
	for i := range in.File.Stages {
		out = append(out, i)
	}
	return out
}

// runsOnTarget reports whether stage i runs on the target platform: the
// first FROM up its chain of stages that says --platform decides (as a
// stage FROM another keeps its platform); none means the target.
// --platform=$BUILDPLATFORM, or a constant (a deliberate choice), is not
// the target; $TARGETPLATFORM is.
func (in *Input) runsOnTarget(i int) bool {
	seen := map[int]bool{}
	for i >= 0 && !seen[i] {
		seen[i] = true
		p := in.File.Stages[i].Platform
		if p != "" {
			return p == "$TARGETPLATFORM" || p == "${TARGETPLATFORM}"
		}
		i = in.parentIndex(i)
	}
	return true
}

// mapped is "a (for linux/arm64), b (for linux/arm/v7)" for the targets,
// through f.
func mapped(targets []string, f func(arch string) string) string {
	parts := make([]string, 0, len(targets))
	for _, t := range targets {
		arch := strings.TrimPrefix(t, "linux/")
		parts = append(parts, fmt.Sprintf("%s (for %s)", f(arch), t))
	}
	return strings.Join(parts, ", ")
}

// dotnetRID is .NET's runtime identifier for a Linux architecture.
func dotnetRID(arch string) string {
	switch arch {
	case "amd64":
		return "linux-x64"
	case "386":
		return "linux-x86"
	case "arm/v7", "arm/v6", "arm":
		return "linux-arm"
	}
	return "linux-" + strings.SplitN(arch, "/", 2)[0]
}

// rustTriple is Rust's target triple for a Linux architecture.
func rustTriple(arch string) string {
	switch arch {
	case "amd64":
		return "x86_64-unknown-linux-gnu"
	case "arm64":
		return "aarch64-unknown-linux-gnu"
	case "arm/v7":
		return "armv7-unknown-linux-gnueabihf"
	case "arm/v6":
		return "arm-unknown-linux-gnueabihf"
	case "386":
		return "i686-unknown-linux-gnu"
	case "ppc64le":
		return "powerpc64le-unknown-linux-gnu"
	case "riscv64":
		return "riscv64gc-unknown-linux-gnu"
	}
	return strings.SplitN(arch, "/", 2)[0] + "-unknown-linux-gnu"
}

// zigTarget is zig's target for a Linux architecture.
func zigTarget(arch string) string {
	switch arch {
	case "amd64":
		return "x86_64-linux"
	case "arm64":
		return "aarch64-linux"
	case "arm/v7", "arm/v6":
		return "arm-linux-gnueabihf"
	case "386":
		return "x86-linux"
	case "ppc64le":
		return "powerpc64le-linux"
	}
	return strings.SplitN(arch, "/", 2)[0] + "-linux"
}
