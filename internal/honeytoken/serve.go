package honeytoken

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/pipeguard/pipeguard/internal/honeytoken/decoy"
)

// ServeConfig says which listeners to run and where alerts go.
type ServeConfig struct {
	HTTPAddr string // HTTP decoys; "" for none
	DNSAddr  string // DNS decoy (UDP); needs Zone
	DBAddr   string // PostgreSQL decoy
	Zone     string
	// DNSAnswer is the address A queries under the zone get.
	DNSAnswer netip.Addr

	Sinks []Sink
	// Window groups repeats of a token into one follow-up alert.
	Window time.Duration
	// MinBackoff and MaxBackoff bound retry delays of alert delivery.
	MinBackoff, MaxBackoff time.Duration

	// RatePerSource and Burst limit responses per source address.
	RatePerSource float64
	Burst         int
	// MaxConns bounds concurrent TCP connections per listener, and
	// MaxConnsPerSource those of one source address.
	MaxConns, MaxConnsPerSource int
	// Refresh is how often tokens created or revoked elsewhere are
	// picked up.
	Refresh time.Duration
	Log     *slog.Logger
}

func (c *ServeConfig) defaults() {
	if c.Window == 0 {
		c.Window = 5 * time.Minute
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 2 * time.Minute
	}
	if c.RatePerSource == 0 {
		c.RatePerSource = 20
	}
	if c.Burst == 0 {
		c.Burst = 40
	}
	if c.MaxConns == 0 {
		c.MaxConns = 4096
	}
	if c.MaxConnsPerSource == 0 {
		c.MaxConnsPerSource = 64
	}
	if c.Refresh == 0 {
		c.Refresh = 2 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if !c.DNSAnswer.IsValid() {
		c.DNSAnswer = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
}

// Server is a running set of listeners.
type Server struct {
	HTTPAddr, DNSAddr, DBAddr net.Addr

	Recorder   *Recorder
	Dispatcher *Dispatcher

	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

// Start binds the configured listeners and runs them, the recorder and the
// dispatcher until ctx ends. Wait returns when all have stopped; hits
// already received are stored first, and undelivered alerts stay queued.
func Start(ctx context.Context, reg *Registry, cfg ServeConfig) (*Server, error) {
	cfg.defaults()
	if cfg.HTTPAddr == "" && cfg.DNSAddr == "" && cfg.DBAddr == "" {
		return nil, errors.New("nothing to serve: give an HTTP, DNS or database listen address")
	}
	if cfg.DNSAddr != "" && cfg.Zone == "" {
		return nil, errors.New("the DNS decoy needs --zone")
	}
	if err := reg.Refresh(ctx); err != nil {
		return nil, err
	}
	s := &Server{}
	s.Dispatcher = NewDispatcher(reg, cfg.Sinks, WithBackoff(cfg.MinBackoff, cfg.MaxBackoff), WithDispatcherLogger(cfg.Log))
	s.Recorder = NewRecorder(reg, WithWindow(cfg.Window), WithSinks(s.Dispatcher.SinkNames()...), WithKick(s.Dispatcher.Kick), WithRecorderLogger(cfg.Log))
	lim := decoy.NewLimiter(cfg.RatePerSource, cfg.Burst, 1<<16)

	var closers []func()
	fail := func(err error) (*Server, error) {
		for _, c := range closers {
			c()
		}
		return nil, err
	}
	var httpLn, dbLn net.Listener
	var dnsPC net.PacketConn
	var dnsLn net.Listener
	var dnsSrv *decoy.DNS
	if cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fail(fmt.Errorf("listening for HTTP: %w", err))
		}
		closers = append(closers, func() { ln.Close() })
		ca := reg.CA()
		if ca == nil {
			// A registry without the home's CA (tests, embedders): an
			// ephemeral one still lets TLS clients send their tokens.
			var err error
			if ca, err = decoy.NewCA(); err != nil {
				return fail(fmt.Errorf("making the decoy TLS certificate: %w", err))
			}
		}
		// New certificate names: a few per source per minute.
		tlsCfg := ca.TLSConfig(decoy.NewLimiter(0.1, 5, 1<<14))
		httpLn = decoy.SniffTLS(decoy.LimitPerSource(netutil.LimitListener(ln, cfg.MaxConns), cfg.MaxConnsPerSource), tlsCfg)
		s.HTTPAddr = ln.Addr()
	}
	if cfg.DNSAddr != "" {
		var err error
		dnsSrv, err = decoy.NewDNS(cfg.Zone, reg, s.Recorder, decoy.WithDNSLimiter(lim), decoy.WithDNSLogger(cfg.Log), decoy.WithDNSAnswer(cfg.DNSAnswer))
		if err != nil {
			return fail(err)
		}
		pc, err := net.ListenPacket("udp", cfg.DNSAddr)
		if err != nil {
			return fail(fmt.Errorf("listening for DNS: %w", err))
		}
		closers = append(closers, func() { pc.Close() })
		dnsPC = pc
		s.DNSAddr = pc.LocalAddr()
		// TCP on the same port, for truncation fallback and TCP-first
		// clients.
		tl, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			return fail(fmt.Errorf("listening for DNS over TCP: %w", err))
		}
		closers = append(closers, func() { tl.Close() })
		dnsLn = decoy.LimitPerSource(tl, cfg.MaxConnsPerSource)
	}
	if cfg.DBAddr != "" {
		ln, err := net.Listen("tcp", cfg.DBAddr)
		if err != nil {
			return fail(fmt.Errorf("listening for database clients: %w", err))
		}
		closers = append(closers, func() { ln.Close() })
		dbLn = decoy.LimitPerSource(ln, cfg.MaxConnsPerSource)
		s.DBAddr = ln.Addr()
	}

	// Listeners stop with ctx; the recorder outlives them to store what
	// they handed over; the dispatcher stops last.
	recCtx, stopRec := context.WithCancel(context.WithoutCancel(ctx))
	dispCtx, stopDisp := context.WithCancel(context.WithoutCancel(ctx))
	var listeners sync.WaitGroup
	run := func(wg *sync.WaitGroup, name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				cfg.Log.Error("honeytoken listener stopped", "listener", name, "err", err)
				s.mu.Lock()
				s.errs = append(s.errs, fmt.Errorf("%s: %w", name, err))
				s.mu.Unlock()
			}
		}()
	}
	if httpLn != nil {
		h := decoy.NewHTTP(reg, s.Recorder, decoy.WithHTTPLimiter(lim), decoy.WithHTTPLogger(cfg.Log))
		run(&listeners, "http", func() error { return decoy.ServeHTTPListener(ctx, h.Server(), httpLn) })
	}
	if dnsPC != nil {
		run(&listeners, "dns", func() error { return dnsSrv.ServePacket(ctx, dnsPC) })
		run(&listeners, "dns-tcp", func() error { return dnsSrv.ServeStream(ctx, dnsLn, 256) })
	}
	if dbLn != nil {
		pg := decoy.NewPostgres(reg, s.Recorder, decoy.WithPostgresLimiter(lim), decoy.WithPostgresLogger(cfg.Log))
		run(&listeners, "postgres", func() error { return pg.Serve(ctx, dbLn) })
	}
	run(&listeners, "refresh", func() error {
		t := time.NewTicker(cfg.Refresh)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				if err := reg.Refresh(ctx); err != nil && ctx.Err() == nil {
					cfg.Log.Warn("reloading honeytokens", "err", err)
				}
			}
		}
	})
	var rec, disp sync.WaitGroup
	run(&rec, "recorder", func() error { return s.Recorder.Run(recCtx) })
	run(&disp, "dispatcher", func() error { return s.Dispatcher.Run(dispCtx) })
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		listeners.Wait()
		stopRec()
		rec.Wait()
		stopDisp()
		disp.Wait()
		// One last, bounded delivery round for what the drain raised;
		// the workers have stopped, so nothing is sent twice.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		s.Dispatcher.Drain(dctx)
		cancel()
	}()
	return s, nil
}

// Wait blocks until the server has stopped and returns listener errors.
func (s *Server) Wait() error {
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.errs...)
}
