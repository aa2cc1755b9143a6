package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
	"golang.org/x/term"

	"github.com/usher-lb/usher/internal/passwd"
	"github.com/usher-lb/usher/internal/totp"
	"github.com/usher-lb/usher/internal/userfile"
)

// cmdUser manages the users file of the portal middleware.
func cmdUser(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "add" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(stdout, "Usage: usher user add NAME --file FILE [--groups a,b] [--issuer NAME] [--qr auto|always|never]")
			return 0
		}
		fmt.Fprintln(stderr, "Usage: usher user add NAME --file FILE [--groups a,b] [--issuer NAME] [--qr auto|always|never]")
		return 2
	}
	return cmdUserAdd(args[1:], stdout, stderr)
}

// cmdUserAdd adds a user to a portal's users file, or replaces the user of
// that name: a password read as hash-password reads it, a new TOTP secret,
// printed with its otpauth:// URI and, on a terminal, a QR code of it.
func cmdUserAdd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("user add", "user add NAME --file FILE [--groups a,b] [--issuer NAME] [--qr auto|always|never]  (reads the password from standard input, or asks for it)", stderr)
	file := fs.String("file", "", "the users file (the portal's usersFile); made when missing: YAML for .yaml/.yml, JSON for .json, NAME:HASH:GROUPS:TOTP lines otherwise")
	groups := fs.String("groups", "", "the user's groups, comma-separated")
	issuer := fs.String("issuer", "usher", "the name the authenticator app shows above the code")
	qr := fs.String("qr", "auto", "print a QR code of the otpauth:// URI: auto (when standard output is a terminal), always or never")
	// The name comes first (usher user add alice --file users.yaml); the
	// flag package stops at the first argument that is not a flag.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	switch {
	case name == "" || fs.NArg() > 1 || name != "" && fs.NArg() == 1 && fs.Arg(0) != name:
		fs.Usage()
		return 2
	case *file == "":
		fmt.Fprintln(stderr, "usher user add: --file is required (the portal's usersFile)")
		return 2
	case *qr != "auto" && *qr != "always" && *qr != "never":
		fmt.Fprintf(stderr, "usher user add: --qr %q: want auto, always or never\n", *qr)
		return 2
	}
	if err := userfile.CheckName(name); err != nil {
		fmt.Fprintln(stderr, "usher user add:", err)
		return 2
	}
	u := userfile.User{Name: name, TOTP: totp.NewSecret()}
	for _, g := range strings.Split(*groups, ",") {
		if g = strings.TrimSpace(g); g == "" {
			continue
		}
		if err := userfile.CheckName(g); err != nil {
			fmt.Fprintln(stderr, "usher user add: group:", strings.TrimPrefix(err.Error(), "user "))
			return 2
		}
		u.Groups = append(u.Groups, g)
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "usher user add:", err)
		return 1
	}
	if u.Hash, err = passwd.Hash(pw); err != nil {
		fmt.Fprintln(stderr, "usher user add:", err)
		return 1
	}
	if err := userfile.Put(*file, u); err != nil {
		fmt.Fprintln(stderr, "usher user add:", err)
		return 1
	}
	uri := totp.URI(*issuer, name, u.TOTP)
	fmt.Fprintf(stderr, "user %s written to %s; give them this secret for their authenticator app (it is shown only now):\n", name, *file)
	fmt.Fprintln(stdout, "secret: "+totp.Encode(u.TOTP))
	fmt.Fprintln(stdout, uri)
	if *qr == "always" || *qr == "auto" && isTerminal(stdout) {
		code, err := qrcode.New(uri, qrcode.Medium)
		if err != nil {
			fmt.Fprintln(stderr, "usher user add: QR code:", err)
			return 1
		}
		fmt.Fprint(stdout, code.ToSmallString(false))
	}
	return 0
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
