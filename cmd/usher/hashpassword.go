package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/usher-lb/usher/internal/passwd"
)

// stdin is the password's source; a variable for the tests.
var stdin io.Reader = os.Stdin

// cmdHashPassword prints the hash of a password for basicAuth's users (and
// the portal's): read as one line from standard input when it is not a
// terminal, else asked for twice without echo.
func cmdHashPassword(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("hash-password", "hash-password [--bcrypt] [--cost N]  (reads the password from standard input, or asks for it)", stderr)
	useBcrypt := fs.Bool("bcrypt", false, "print a bcrypt hash ($2y$) instead of argon2id")
	cost := fs.Int("cost", 12, "bcrypt's cost, 4 to 18 (with --bcrypt)")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usher hash-password: the password is read from standard input, never from the command line (it would be in the shell's history)")
		return 2
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "usher hash-password:", err)
		return 1
	}
	var h string
	if *useBcrypt {
		h, err = passwd.HashBcrypt(pw, *cost)
	} else {
		h, err = passwd.Hash(pw)
	}
	if err != nil {
		fmt.Fprintln(stderr, "usher hash-password:", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}

// readPassword reads one line from in, or, when in is a terminal, asks
// twice without echo.
func readPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		fmt.Fprint(prompt, "Password: ")
		a, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		fmt.Fprint(prompt, "Again: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ")
		}
		if len(a) == 0 {
			return "", errors.New("the password is empty")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no password on standard input")
		}
		return "", fmt.Errorf("read the password: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("the password is empty")
	}
	return line, nil
}
