// Command usher is a load balancer and reverse proxy.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

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
		{"version", "print usher's version", cmdVersion},
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
	fmt.Fprintln(stdout, "usher", version)
	return 0
}
