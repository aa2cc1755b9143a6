// Command usher is a load balancer and reverse proxy.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// version and commit are set at build time with -ldflags "-X
// main.version=... -X main.commit=...": commit stands in for the VCS
// revision when the toolchain recorded none (a build from a tarball, or
// with -buildvcs=false).
var (
	version = "dev"
	commit  = ""
)

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "serve traffic from a config file", cmdRun},
		{"validate", "check a config file and print every problem", cmdValidate},
		{"demo", "start three demo backends with usher in front of them", cmdDemo},
		{"schema", "print the JSON Schema of the config file", cmdSchema},
		{"sim", "simulate the balancing algorithms on a synthetic workload", cmdSim},
		{"explain", "show which entrypoint, router, middlewares and service take a request", cmdExplain},
		{"hash-password", "print a password's hash for basicAuth's users (read from standard input)", cmdHashPassword},
		{"user", "add a user of the login portal: usher user add NAME --file users.yaml", cmdUser},
		{"cache", "purge a running usher's cache, or show its figures (through the admin API)", cmdCache},
		{"bench", "send HTTP requests to a URL and print their rate and latency (as wrk)", cmdBench},
		{"canary", "show, promote or abort a running usher's canaries (through the admin API)", cmdCanary},
		{"switch", "send a weighted service's traffic to one of its services at once, or back (admin API)", cmdSwitch},
		{"healthcheck", "exit 0 when the usher running here serves (admin /ping), 1 with the reason otherwise", cmdHealthcheck},
		{"version", "print usher's version and build info", cmdVersion},
	}
}

func main() {
	// A proxy's heap is small and churns fast: at Go's default GOGC=100 it
	// collects hundreds of times a second under load. GOGC=1000 spends a few
	// more MiB to save about a tenth of the CPU per request (bench/RESULTS.md);
	// the 1GiB soft limit makes the collector work harder rather than let a
	// large heap grow tenfold. Each of GOGC and GOMEMLIMIT set in the
	// environment wins over usher's value for it, the other one stays usher's.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(1000)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(1 << 30)
	}
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "usher: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usher: a load balancer and reverse proxy\n\nUsage: usher <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'usher <command> --help' for a command's flags.")
}

// newFlags returns a flag set whose --help prints the command's usage and flags.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("usher "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: usher %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; it returns an exit code when the command should stop.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, true
		}
		return 2, true
	}
	return 0, false
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", "version", stderr)
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprint(stdout, versionText(version, bi))
	return 0
}

// versionText is what `usher version` prints: the version given at build
// time (or the module's, for `go install`), then what the Go toolchain
// recorded of the build: the module, the VCS revision and time, whether
// the tree had changes, the Go version and the target.
func versionText(v string, bi *debug.BuildInfo) string {
	if bi == nil {
		return fmt.Sprintf("usher %s\n(no build info in this binary)\n", v)
	}
	if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	var b strings.Builder
	fmt.Fprintf(&b, "usher %s\n", v)
	mod := bi.Main.Path
	if bi.Main.Version != "" {
		mod += " " + bi.Main.Version
	}
	fmt.Fprintf(&b, "  module    %s\n", mod)
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	rev := settings["vcs.revision"]
	if rev == "" {
		rev = commit
	}
	if rev == "" {
		rev = "unknown (built outside a VCS checkout, or with -buildvcs=false)"
	} else if settings["vcs.modified"] == "true" {
		rev += " (modified)"
	}
	fmt.Fprintf(&b, "  revision  %s\n", rev)
	if t := settings["vcs.time"]; t != "" {
		fmt.Fprintf(&b, "  committed %s\n", t)
	}
	fmt.Fprintf(&b, "  go        %s\n", bi.GoVersion)
	if settings["GOOS"] != "" {
		fmt.Fprintf(&b, "  platform  %s/%s", settings["GOOS"], settings["GOARCH"])
		if settings["CGO_ENABLED"] != "" {
			fmt.Fprintf(&b, " CGO_ENABLED=%s", settings["CGO_ENABLED"])
		}
		b.WriteString("\n")
	}
	return b.String()
}
