package config

import (
	"strconv"
	"strings"
)

// RedactURL returns raw with the userinfo of its authority (the
// "user:password@" of http://user:password@host/) replaced by Redaction, for
// showing a URL in a log line, an error or the admin API. It works on text,
// not on a parsed URL, so that a URL that does not parse (the one a problem
// is about) is redacted too; a string without "://" is returned as it is.
// The user name goes as well as the password: tokens are often passed as
// user names (https://TOKEN@host).
func RedactURL(raw string) string {
	start, end := userinfo(raw)
	if start < 0 {
		return raw
	}
	return raw[:start] + Redaction + raw[end:]
}

// userinfo finds the userinfo of a URL's authority, without its '@':
// raw[start:end], or start -1 when there is none. The authority runs from
// "://" to the first '/', '?' or '#'; the userinfo ends at its last '@'.
func userinfo(raw string) (start, end int) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return -1, -1
	}
	start = i + 3
	auth := raw[start:]
	if j := strings.IndexAny(auth, "/?#"); j >= 0 {
		auth = auth[:j]
	}
	at := strings.LastIndexByte(auth, '@')
	if at < 0 {
		return -1, -1
	}
	return start, start + at
}

// portProblem tells what is wrong with the port of an http(s) URL's
// authority, or "" when it has none or a good one (1 to 65535). url.Parse
// takes "http://h:99999", "http://h:" and "http://h:0", which no server
// listens on, and refuses "http://h:abc" with a message that does not say
// what a port may be.
func portProblem(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return ""
	}
	auth := raw[i+3:]
	if j := strings.IndexAny(auth, "/?#"); j >= 0 {
		auth = auth[:j]
	}
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		auth = auth[at+1:]
	}
	var port string
	if strings.HasPrefix(auth, "[") { // an IPv6 literal: [::1]:8080
		end := strings.IndexByte(auth, ']')
		if end < 0 || end+1 == len(auth) || auth[end+1] != ':' {
			return "" // no port, or a malformed host that url.Parse reports
		}
		port = auth[end+2:]
	} else {
		colon := strings.LastIndexByte(auth, ':')
		if colon < 0 {
			return ""
		}
		port = auth[colon+1:]
	}
	if port == "" {
		return "has a ':' but no port after it; write the port (1 to 65535) or leave the ':' out for the scheme's default"
	}
	for k := 0; k < len(port); k++ {
		if port[k] < '0' || port[k] > '9' {
			return "has an invalid port " + strconv.Quote(port) + ": a port is a number from 1 to 65535"
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "has port " + port + ", out of range: a port is a number from 1 to 65535"
	}
	return ""
}

// RedactURLs is RedactURL for every URL inside a text (an error message, the
// reason of an event), whose URLs end at a space or a quote as well.
func RedactURLs(text string) string {
	if !strings.Contains(text, "://") || !strings.Contains(text, "@") {
		return text
	}
	var b strings.Builder
	rest := text
	for {
		i := strings.Index(rest, "://")
		if i < 0 {
			break
		}
		start := i + 3
		auth := rest[start:]
		if j := strings.IndexAny(auth, "/?# \t\r\n\"'`<>"); j >= 0 {
			auth = auth[:j]
		}
		b.WriteString(rest[:start])
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			b.WriteString(Redaction)
			rest = rest[start+at:]
		} else {
			rest = rest[start:]
		}
	}
	b.WriteString(rest)
	return b.String()
}
