package decoy

import (
	"net"
	"net/netip"
	"sync"
)

// LimitPerSource wraps ln so that one source address (an IPv6 /64) holds
// at most max connections at a time; more are closed as soon as they are
// accepted. Together with a global cap this stops one source from
// occupying every slot of a listener.
func LimitPerSource(ln net.Listener, max int) net.Listener {
	return &perSourceListener{Listener: ln, max: max, open: make(map[netip.Addr]int)}
}

type perSourceListener struct {
	net.Listener
	max  int
	mu   sync.Mutex
	open map[netip.Addr]int
}

func (l *perSourceListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		k := sourceKey(remoteAddr(c.RemoteAddr().String()))
		l.mu.Lock()
		if l.open[k] >= l.max {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.open[k]++
		l.mu.Unlock()
		return &countedConn{Conn: c, release: func() { l.release(k) }}, nil
	}
}

func (l *perSourceListener) release(k netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[k] <= 1 {
		delete(l.open, k) // the map only holds sources with open connections
		return
	}
	l.open[k]--
}

type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
