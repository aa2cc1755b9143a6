package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// cmdCache talks to a running usher's admin API: `usher cache purge`
// removes entries of its cache middlewares, `usher cache stats` shows their
// figures. The token comes from --token-file or USHER_ADMIN_TOKEN, never
// from the command line, where other users of the machine could read it.
func cmdCache(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "purge" && args[0] != "stats") {
		fmt.Fprintln(stderr, "Usage: usher cache purge (--url URL | --prefix P | --tag T | --all) [--middleware NAME] [--admin ADDR]\n       usher cache stats [--middleware NAME] [--admin ADDR] [--json]")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	sub := args[0]
	fs := newFlags("cache "+sub, "cache "+sub+" [flags]", stderr)
	admin := fs.String("admin", "127.0.0.1:9090", "address of the admin API (host:port, or an http(s) URL)")
	tokenFile := fs.String("token-file", "", "file holding the admin token (default: $USHER_ADMIN_TOKEN)")
	name := fs.String("middleware", "", "the cache middleware (default: every one)")
	var purgeURL, prefix, tag *string
	var all, asJSON *bool
	if sub == "purge" {
		purgeURL = fs.String("url", "", "purge every variant of this URL (scheme://host/path?query; /path?query for every host)")
		prefix = fs.String("prefix", "", "purge the URLs starting with this (scheme://host/path, or /path for every host)")
		tag = fs.String("tag", "", "purge the responses tagged so by their Cache-Tag or Surrogate-Key")
		all = fs.Bool("all", false, "purge everything")
	} else {
		asJSON = fs.Bool("json", false, "print the admin API's JSON")
	}
	if code, stop := parseFlags(fs, args[1:]); stop {
		return code
	}
	token := os.Getenv("USHER_ADMIN_TOKEN")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "usher cache: token file: %v\n", err)
			return 1
		}
		token = strings.TrimSpace(string(b))
	}
	base := *admin
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	var req *http.Request
	var err error
	if sub == "purge" {
		body := map[string]any{}
		set := 0
		for k, v := range map[string]string{"url": *purgeURL, "prefix": *prefix, "tag": *tag} {
			if v != "" {
				body[k] = v
				set++
			}
		}
		if *all {
			body["all"] = true
			set++
		}
		if set != 1 {
			fmt.Fprintln(stderr, "usher cache purge: give exactly one of --url, --prefix, --tag, --all")
			return 2
		}
		if *name != "" {
			body["middleware"] = *name
		}
		b, _ := json.Marshal(body)
		req, err = http.NewRequest(http.MethodPost, base+"/api/cache/purge", bytes.NewReader(b))
		if req != nil {
			req.Header.Set("Content-Type", "application/json")
		}
	} else {
		u := base + "/api/cache"
		if *name != "" {
			u += "?middleware=" + url.QueryEscape(*name)
		}
		req, err = http.NewRequest(http.MethodGet, u, nil)
	}
	if err != nil {
		fmt.Fprintf(stderr, "usher cache: %v\n", err)
		return 2
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "usher cache: admin API: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			fmt.Fprintf(stderr, "usher cache: %s (%s)\n", e.Error, resp.Status)
		} else {
			fmt.Fprintf(stderr, "usher cache: admin API answered %s\n", resp.Status)
		}
		return 1
	}
	if sub == "purge" {
		var r struct{ Purged int }
		if err := json.Unmarshal(b, &r); err != nil {
			fmt.Fprintf(stderr, "usher cache: bad answer: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "purged %d entries\n", r.Purged)
		return 0
	}
	if *asJSON {
		stdout.Write(b)
		return 0
	}
	var sts []struct {
		Middleware, Store                                                     string
		Entries, Bytes, Hits, Misses, Stale, Revalidations, Coalesced, Bypass int64
	}
	if err := json.Unmarshal(b, &sts); err != nil {
		fmt.Fprintf(stderr, "usher cache: bad answer: %v\n", err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MIDDLEWARE\tSTORE\tENTRIES\tBYTES\tHITS\tMISSES\tSTALE\tREVALIDATIONS\tCOALESCED\tHIT RATIO")
	for _, s := range sts {
		bytesShown := fmt.Sprint(s.Bytes)
		if s.Bytes < 0 {
			bytesShown = "-"
		}
		ratio := "-"
		if total := s.Hits + s.Stale + s.Misses + s.Revalidations; total > 0 {
			ratio = fmt.Sprintf("%.1f%%", 100*float64(s.Hits+s.Stale)/float64(total))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", s.Middleware, s.Store, s.Entries, bytesShown, s.Hits, s.Misses, s.Stale, s.Revalidations, s.Coalesced, ratio)
	}
	tw.Flush()
	return 0
}
