package secrets

import "math/bits"

// keywordMatcher finds every occurrence of a set of keywords in a text,
// ignoring ASCII case, in one pass. It is an Aho-Corasick automaton
// flattened into a DFA over byte classes (bytes that no keyword contains
// share one class), with each transition pre-multiplied by the class count
// and negated when its target ends a keyword: the inner loop is one table
// lookup and one sign test per byte, on a table small enough for the CPU
// cache. The prefilter runs over every byte of every hunk, so it is the one
// loop that has to be this cheap.
type keywordMatcher struct {
	cls   [256]uint8
	ncls  int // a power of two, so a state's number is one shift away
	shift uint
	next  []int32 // state*ncls + class -> (next state*ncls), negated if it ends a keyword
	// out[state] lists the keyword indices that end at this state
	// (including those reached through suffix links).
	out      [][]int32
	keywords []string
}

var lowerTable = func() (t [256]byte) {
	for i := range t {
		c := byte(i)
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		t[i] = c
	}
	return t
}()

func newKeywordMatcher(keywords []string) *keywordMatcher {
	m := &keywordMatcher{keywords: keywords}
	// Byte classes: one per distinct (lower-cased) keyword byte, plus 0
	// for everything else.
	m.ncls = 1
	for _, k := range keywords {
		for i := 0; i < len(k); i++ {
			c := lowerTable[k[i]]
			if m.cls[c] == 0 {
				if m.ncls == 255 {
					continue
				}
				m.cls[c] = uint8(m.ncls)
				m.ncls++
			}
		}
	}
	for c := 'A'; c <= 'Z'; c++ {
		m.cls[c] = m.cls[c+'a'-'A']
	}
	m.shift = uint(bits.Len(uint(m.ncls - 1)))
	m.ncls = 1 << m.shift
	type node struct {
		child map[uint8]int32
		fail  int32
		out   []int32
	}
	nodes := []node{{child: map[uint8]int32{}}}
	for ki, k := range keywords {
		s := int32(0)
		for i := 0; i < len(k); i++ {
			c := m.cls[lowerTable[k[i]]]
			nx, ok := nodes[s].child[c]
			if !ok {
				nodes = append(nodes, node{child: map[uint8]int32{}})
				nx = int32(len(nodes) - 1)
				nodes[s].child[c] = nx
			}
			s = nx
		}
		nodes[s].out = append(nodes[s].out, int32(ki))
	}
	n := m.ncls
	trans := make([]int32, len(nodes)*n) // plain state numbers
	m.out = make([][]int32, len(nodes))
	// Breadth-first: a state's failure target is finished before the
	// state itself, so its transitions can be copied.
	queue := []int32{0}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		nd := &nodes[s]
		if s != 0 {
			nd.out = append(nd.out, nodes[nd.fail].out...)
		}
		m.out[s] = nd.out
		for c := 0; c < n; c++ {
			if nx, ok := nd.child[uint8(c)]; ok && c != 0 {
				if s == 0 {
					nodes[nx].fail = 0
				} else {
					nodes[nx].fail = trans[int(nd.fail)*n+c]
				}
				trans[int(s)*n+c] = nx
				queue = append(queue, nx)
			} else if s != 0 {
				trans[int(s)*n+c] = trans[int(nd.fail)*n+c]
			}
		}
	}
	m.next = make([]int32, len(trans))
	for i, t := range trans {
		v := t * int32(n)
		if len(m.out[t]) > 0 {
			v = ^v
		}
		m.next[i] = v
	}
	return m
}

// hit is one keyword occurrence: the keyword's index and the offset just
// past its last byte.
type hit struct {
	kw  int32
	end int
}

// find appends every keyword occurrence in data to hits.
func (m *keywordMatcher) find(data []byte, hits []hit) []hit {
	next, cls := m.next, &m.cls
	base := int32(0)
	for i, c := range data {
		t := next[base+int32(cls[c])]
		if t < 0 {
			t = ^t
			for _, k := range m.out[t>>m.shift] {
				hits = append(hits, hit{kw: k, end: i + 1})
			}
		}
		base = t
	}
	return hits
}
