package test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

func TestWebSocketEchoesAndSurvivesReload(t *testing.T) {
	upgrader := websocket.Upgrader{}
	echo := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	})
	other := backend(t, "other")
	u := startUsher(t, config(reloadTpl, "addr", "127.0.0.1:0", "servers", `{ url: "`+echo.URL+`" }`))
	addr := u.addrs["web"]
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/chat", nil)
	if err != nil {
		t.Fatalf("dial through usher: %v (%v)", err, resp)
	}
	defer ws.Close()
	say := func(msg string) {
		t.Helper()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := ws.ReadMessage()
		if err != nil || string(got) != "echo: "+msg {
			t.Fatalf("sent %q, got %q %v", msg, got, err)
		}
	}
	say("hello")
	// The new config sends new requests elsewhere; the open WebSocket stays
	// on the server it started on.
	if l := u.rewrite(config(reloadTpl, "addr", addr, "servers", `{ url: "`+other.URL+`" }`)); l.msg() != "configuration applied" {
		t.Fatalf("reload: %v", l)
	}
	say("still there after the reload")
	if status, body := get(t, "http://"+addr+"/"); status != 200 || !strings.Contains(body, "other") {
		t.Fatalf("new requests after reload: %d %q", status, body)
	}
	say("and still")
}
