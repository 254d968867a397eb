package decoy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
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

// serveConns accepts connections on ln until ctx ends and hands each to
// handle under a deadline, at most maxConns at once: when full it sheds the
// new connection rather than grow. what names the protocol in errors.
func serveConns(ctx context.Context, ln net.Listener, maxConns int, what string, deadline time.Duration, handle func(net.Conn)) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	sem := make(chan struct{}, maxConns)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accepting %s connection: %w", what, err)
		}
		select {
		case sem <- struct{}{}:
		default:
			c.Close()
			continue
		}
		go func() {
			defer func() { <-sem }()
			defer c.Close()
			c.SetDeadline(time.Now().Add(deadline))
			handle(c)
		}()
	}
}
