package rule

import "slices"

// A compiled rule is a flat program of tests, one per matcher, in source order.
// Each test names where to go next when its matcher is true and when it is
// false: another test further on, or accept or reject. '&&', '||' and '!' cost
// nothing at run time; they are only in the jump targets, which also give the
// short-circuit evaluation. Jumps only go forward, so evaluation ends after at
// most len(prog) tests.
type inst struct {
	m               matcher
	onTrue, onFalse int32 // index into the program, or accept or reject
}

const (
	accept int32 = -1
	reject int32 = -2
)

// compile turns the parsed rule into its program; the entry is prog[0].
func compile(n *node) []inst {
	var prog []inst
	// gen appends the tests of n, given where to go when n is true (t) or
	// false (f), and returns n's entry. Operands are generated last to first,
	// so each test is appended after its targets and the entry is always the
	// last test appended.
	var gen func(n *node, t, f int32) int32
	gen = func(n *node, t, f int32) int32 {
		switch n.op {
		case opNot:
			return gen(n.kids[0], f, t)
		case opAnd:
			for i := len(n.kids) - 1; i >= 0; i-- {
				t = gen(n.kids[i], t, f)
			}
			return t
		case opOr:
			for i := len(n.kids) - 1; i >= 0; i-- {
				f = gen(n.kids[i], t, f)
			}
			return f
		}
		prog = append(prog, inst{m: n.m, onTrue: t, onFalse: f})
		return int32(len(prog) - 1)
	}
	gen(n, accept, reject)

	// Reverse: the entry becomes 0, source order is restored, jumps go forward.
	last := int32(len(prog) - 1)
	slices.Reverse(prog)
	for i := range prog {
		in := &prog[i]
		if in.onTrue >= 0 {
			in.onTrue = last - in.onTrue
		}
		if in.onFalse >= 0 {
			in.onFalse = last - in.onFalse
		}
	}
	return prog
}

// ruleHosts returns the hosts one of which a request must have for the rule to
// match (sorted, unique, non-nil), or nil when any host may match.
func ruleHosts(n *node) []string {
	hs, ok := hostSet(n)
	if !ok {
		return nil
	}
	slices.Sort(hs)
	hs = slices.Compact(hs)
	if hs == nil {
		hs = []string{}
	}
	return hs
}

// hostSet returns a set containing every host for which n can be true, and
// ok; or ok false when that set is not bounded.
func hostSet(n *node) (hosts []string, ok bool) {
	switch n.op {
	case opLeaf:
		if n.m.kind == kHost {
			return []string{n.m.a}, true
		}
		return nil, false
	case opAnd:
		for _, k := range n.kids {
			hs, kok := hostSet(k)
			if !kok {
				continue
			}
			if !ok {
				hosts, ok = hs, true
				continue
			}
			hosts = slices.DeleteFunc(hosts, func(h string) bool { return !slices.Contains(hs, h) })
		}
		return hosts, ok
	case opOr:
		for _, k := range n.kids {
			hs, kok := hostSet(k)
			if !kok {
				return nil, false
			}
			hosts = append(hosts, hs...)
		}
		return hosts, true
	}
	// Under '!' a Host says which host does not match: unbounded.
	return nil, false
}
