package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// FromLabels reads the dynamic configuration that labels hold, flattened one
// key path per label: "http.routers.shop.rule" stands for http: { routers: {
// shop: { rule: … } } }, "servers[0].url" for the url of the first server. A
// list of strings (entrypoints, middlewares) is written as one label, its
// items separated by commas. Keys match the file's case-insensitively
// (loadbalancer is loadBalancer), as labels are often written lowercase.
//
// Values are taken literally: no ${VAR} expansion and no "xFile" keys, since
// whoever starts a container must not read usher's environment or files
// through it. Only the dynamic half may be set.
//
// origin names the labels' owner (`container "shop-1"`); each key's position
// is origin and its label (prefix included), so every problem, the
// validator's too, names the container and the label.
func FromLabels(origin, prefix string, labels map[string]string) (*Config, Problems) {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	root := newMap(Pos{File: origin})
	var probs Problems
	for _, k := range keys {
		pos := Pos{File: fmt.Sprintf("%s, label %s%s", origin, prefix, k)}
		if fileKey(k) {
			probs = append(probs, Problem{Pos: pos, Msg: "a label cannot name a file of usher's host (users, keys, rules, certificates): set it in a config file"})
			continue
		}
		if autoscaleKey(k) {
			probs = append(probs, Problem{Pos: pos, Msg: "a label cannot set autoscale: its actuator runs commands and starts containers from usher's host; set it in a config file"})
			continue
		}
		if err := setLabel(root, k, labels[k], pos); err != nil {
			probs = append(probs, Problem{Pos: pos, Msg: err.Error()})
		}
	}
	probs = append(probs, gaps(root, "")...)
	root, dprobs := dynamicPart(root)
	probs = append(probs, dprobs...)
	d := &decoder{src: NewSource(), literal: true, probs: probs,
		lookup:   func(string) (string, bool) { return "", false },
		readFile: func(string) ([]byte, error) { return nil, fmt.Errorf("labels cannot read files") },
	}
	cfg := &Config{}
	d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	cfg.Source = d.src
	return cfg, d.probs
}

// fileKey tells whether a label's key names a file that usher would read:
// whoever may start a container must not make usher read a file of its
// host (an htpasswd, a key, a rule set) as config.
func fileKey(key string) bool {
	segs := strings.Split(strings.ToLower(key), ".")
	for i := range segs {
		if j := strings.IndexByte(segs[i], '['); j >= 0 {
			segs[i] = segs[i][:j]
		}
	}
	last := segs[len(segs)-1]
	if strings.HasSuffix(last, "file") || strings.HasSuffix(last, "files") || last == "caroots" || last == "storage" {
		return true
	}
	return len(segs) > 1 && strings.HasSuffix(segs[len(segs)-2], "tls") && (last == "ca" || last == "cert" || last == "key")
}

// autoscaleKey tells whether a label's key is in an autoscale section:
// whoever may start a container must not make usher run a command or start
// containers of their choice.
func autoscaleKey(key string) bool {
	segs := strings.Split(strings.ToLower(key), ".")
	for i := 1; i < len(segs); i++ {
		if segs[i] == "autoscale" && segs[i-1] == "loadbalancer" {
			return true
		}
	}
	return false
}

// setLabel puts one label's value at its key path in the tree.
func setLabel(root *node, key, value string, pos Pos) error {
	if key == "" {
		return fmt.Errorf("the label names no key")
	}
	n := root
	segs := strings.Split(key, ".")
	for i, seg := range segs {
		last := i == len(segs)-1
		name, idx, err := splitIndex(seg)
		if err != nil {
			return err
		}
		if name == "" {
			return fmt.Errorf("the key %q has an empty part", key)
		}
		if n.kind != kindMap {
			return fmt.Errorf("%q cannot both have a value and keys below it", strings.Join(segs[:i], "."))
		}
		child := n.get(name)
		if child == nil { // loadbalancer and loadBalancer are one key
			for _, e := range n.entries {
				if strings.EqualFold(e.key, name) {
					child = e.val
					break
				}
			}
		}
		if idx < 0 {
			if last {
				if child != nil {
					return fmt.Errorf("%q cannot both have a value and keys below it", key)
				}
				n.add(name, pos, newScalar(pos, value))
				return nil
			}
			if child == nil {
				child = newMap(pos)
				n.add(name, pos, child)
			}
			n = child
			continue
		}
		if child == nil {
			child = newList(pos)
			n.add(name, pos, child)
		}
		if child.kind != kindList {
			return fmt.Errorf("%q is a list here but not in another label", name)
		}
		for len(child.items) <= idx { // labels come in any order: [10] before [2]
			child.items = append(child.items, nil)
		}
		switch {
		case child.items[idx] == nil && last:
			child.items[idx] = newScalar(pos, value)
			child.addWeight(child.items[idx])
			return nil
		case child.items[idx] == nil:
			child.items[idx] = newMap(pos)
			child.addWeight(child.items[idx])
		case last || child.items[idx].kind != kindMap:
			return fmt.Errorf("%q cannot both have a value and keys below it", key)
		}
		n = child.items[idx]
	}
	return nil
}

// splitIndex splits "servers[2]" into "servers" and 2; -1 without an index.
func splitIndex(seg string) (string, int, error) {
	open := strings.IndexByte(seg, '[')
	if open < 0 {
		return seg, -1, nil
	}
	if !strings.HasSuffix(seg, "]") {
		return "", 0, fmt.Errorf("%q: expected name[index]", seg)
	}
	i, err := strconv.Atoi(seg[open+1 : len(seg)-1])
	if err != nil || i < 0 || i > 1000 {
		return "", 0, fmt.Errorf("%q: the index must be a number from 0 to 1000", seg)
	}
	return seg[:open], i, nil
}

// gaps reports the list items no label set: servers[1] without servers[0].
func gaps(n *node, path string) Problems {
	var probs Problems
	switch n.kind {
	case kindMap:
		for _, e := range n.entries {
			probs = append(probs, gaps(e.val, dotted(path, e.key))...)
		}
	case kindList:
		for i, it := range n.items {
			if it == nil {
				probs = append(probs, Problem{Pos: n.pos, Path: path,
					Msg: fmt.Sprintf("%s[%d] is not set: number list items from 0 without gaps", path, i)})
				n.items[i] = newNull(n.pos)
				continue
			}
			probs = append(probs, gaps(it, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return probs
}
