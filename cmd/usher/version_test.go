package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionText(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/usher-lb/usher", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"}, {Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"},
			{Key: "CGO_ENABLED", Value: "0"},
		},
	}
	got := versionText("dev", bi)
	for _, want := range []string{
		"usher v1.2.3\n", // the module's version, for go install
		"module    github.com/usher-lb/usher v1.2.3\n",
		"revision  abc123 (modified)\n",
		"committed 2026-12-01T10:00:00Z\n",
		"go        go1.26.8\n",
		"platform  linux/amd64 CGO_ENABLED=0\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if got := versionText("v9", bi); !strings.HasPrefix(got, "usher v9\n") {
		t.Errorf("the -X version should win:\n%s", got)
	}
	bi.Settings = nil
	commit = "feedbeef"
	defer func() { commit = "" }()
	if got := versionText("v9", bi); !strings.Contains(got, "revision  feedbeef\n") {
		t.Errorf("the -X commit should stand in for a missing vcs.revision:\n%s", got)
	}
	if got := versionText("dev", nil); !strings.Contains(got, "no build info") {
		t.Errorf("without build info:\n%s", got)
	}
}
