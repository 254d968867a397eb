package secrets

// keywordMatcher finds every occurrence of a set of keywords in a text,
// ignoring ASCII case, in one pass. It is an Aho-Corasick automaton
// flattened into a full DFA (256 transitions per state), so the inner loop
// is one table lookup per input byte: the prefilter must run over every
// byte of every blob, so it is the one loop that has to be this cheap.
type keywordMatcher struct {
	next []int32 // state*256 + byte -> state
	// out[state] lists the keyword indices that end at this state
	// (including those reached through suffix links).
	out      [][]int32
	hasOut   []bool
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
	type node struct {
		child map[byte]int32
		fail  int32
		out   []int32
	}
	nodes := []node{{child: map[byte]int32{}}}
	for ki, k := range keywords {
		s := int32(0)
		for i := 0; i < len(k); i++ {
			c := lowerTable[k[i]]
			nx, ok := nodes[s].child[c]
			if !ok {
				nodes = append(nodes, node{child: map[byte]int32{}})
				nx = int32(len(nodes) - 1)
				nodes[s].child[c] = nx
			}
			s = nx
		}
		nodes[s].out = append(nodes[s].out, int32(ki))
	}
	m := &keywordMatcher{
		next:     make([]int32, len(nodes)*256),
		out:      make([][]int32, len(nodes)),
		hasOut:   make([]bool, len(nodes)),
		keywords: keywords,
	}
	// Breadth-first: a state's failure target is always finished before
	// the state itself, so its transitions can be copied.
	queue := []int32{0}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		n := &nodes[s]
		if s != 0 {
			n.out = append(n.out, nodes[n.fail].out...)
		}
		m.out[s] = n.out
		m.hasOut[s] = len(n.out) > 0
		for c := 0; c < 256; c++ {
			if nx, ok := n.child[byte(c)]; ok {
				if s == 0 {
					nodes[nx].fail = 0
				} else {
					nodes[nx].fail = m.next[int(n.fail)*256+c]
				}
				m.next[int(s)*256+c] = nx
				queue = append(queue, nx)
			} else if s != 0 {
				m.next[int(s)*256+c] = m.next[int(n.fail)*256+c]
			}
		}
	}
	// Make the DFA case-insensitive by routing upper-case bytes like their
	// lower-case forms.
	for s := 0; s < len(nodes); s++ {
		for c := 'A'; c <= 'Z'; c++ {
			m.next[s*256+int(c)] = m.next[s*256+int(c+'a'-'A')]
		}
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
	s := int32(0)
	next, hasOut := m.next, m.hasOut
	for i := 0; i < len(data); i++ {
		s = next[int(s)<<8|int(data[i])]
		if hasOut[s] {
			for _, k := range m.out[s] {
				hits = append(hits, hit{kw: k, end: i + 1})
			}
		}
	}
	return hits
}
