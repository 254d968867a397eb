package honeytoken

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Sink delivers alerts somewhere. Name must be stable across restarts and
// must not contain secrets: it keys the durable delivery queue.
type Sink interface {
	Name() string
	Send(ctx context.Context, a *Alert) error
}

// Dispatcher delivers queued alerts to sinks, retrying with backoff until
// each sink has taken each alert. The queue is in the store, so an alert
// raised while a sink is down, or before a restart, is delivered later.
type Dispatcher struct {
	reg        *Registry
	sinks      []Sink
	minBackoff time.Duration
	maxBackoff time.Duration
	timeout    time.Duration
	log        *slog.Logger
	now        func() time.Time
	kicks      map[string]chan struct{}
}

// DispatcherOption configures a Dispatcher.
type DispatcherOption func(*Dispatcher)

// WithBackoff sets the first and the largest retry delay.
func WithBackoff(min, max time.Duration) DispatcherOption {
	return func(d *Dispatcher) { d.minBackoff, d.maxBackoff = min, max }
}

// WithDispatcherLogger sets the logger.
func WithDispatcherLogger(l *slog.Logger) DispatcherOption { return func(d *Dispatcher) { d.log = l } }

// NewDispatcher returns a dispatcher for sinks.
func NewDispatcher(reg *Registry, sinks []Sink, opts ...DispatcherOption) *Dispatcher {
	d := &Dispatcher{reg: reg, sinks: sinks, minBackoff: time.Second, maxBackoff: 5 * time.Minute, timeout: 10 * time.Second,
		log: slog.Default(), now: time.Now, kicks: make(map[string]chan struct{})}
	for _, o := range opts {
		o(d)
	}
	for _, s := range sinks {
		d.kicks[s.Name()] = make(chan struct{}, 1)
	}
	return d
}

// SinkNames returns the names alerts are queued under.
func (d *Dispatcher) SinkNames() []string {
	out := make([]string, len(d.sinks))
	for i, s := range d.sinks {
		out[i] = s.Name()
	}
	return out
}

// Kick wakes every sink's worker.
func (d *Dispatcher) Kick() {
	for _, c := range d.kicks {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// Run delivers until ctx ends, one worker per sink so that a sink that is
// down holds up no other.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, s := range d.sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.work(ctx, s)
		}()
	}
	wg.Wait()
	return nil
}

func (d *Dispatcher) work(ctx context.Context, s Sink) {
	kick := d.kicks[s.Name()]
	for {
		wait, err := d.deliverDue(ctx, s)
		if err != nil && ctx.Err() == nil {
			d.log.Error("delivering honeytoken alerts", "sink", s.Name(), "err", err)
			wait = d.minBackoff
		}
		if wait <= 0 || wait > time.Second {
			wait = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-kick:
		case <-t.C:
		}
		t.Stop()
	}
}

type due struct {
	alertID  string
	attempts int64
}

// deliverDue sends every due alert to s in order and returns how long
// until the next retry is due (0 when nothing is pending).
func (d *Dispatcher) deliverDue(ctx context.Context, s Sink) (time.Duration, error) {
	db := d.reg.db
	for {
		now := d.now().UnixNano()
		rows, err := db.QueryContext(ctx, db.Rebind(`SELECT q.alert_id, q.attempts FROM honeytoken_deliveries q JOIN honeytoken_alerts a ON a.id = q.alert_id
			WHERE q.sink = ? AND q.delivered_ns IS NULL AND q.next_ns <= ? ORDER BY a.at_ns, a.id LIMIT 100`), s.Name(), now)
		if err != nil {
			return 0, fmt.Errorf("reading the delivery queue: %w", err)
		}
		var batch []due
		for rows.Next() {
			var x due
			if err := rows.Scan(&x.alertID, &x.attempts); err != nil {
				rows.Close()
				return 0, err
			}
			batch = append(batch, x)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, err
		}
		if len(batch) == 0 {
			return d.nextDue(ctx, s)
		}
		for _, x := range batch {
			a, err := d.reg.alert(ctx, x.alertID)
			if err != nil {
				return 0, err
			}
			sctx, cancel := context.WithTimeout(ctx, d.timeout)
			serr := s.Send(sctx, a)
			cancel()
			if serr != nil {
				if ctx.Err() != nil {
					return 0, nil
				}
				backoff := d.backoff(x.attempts + 1)
				d.log.Warn("honeytoken alert delivery failed; will retry", "sink", s.Name(), "alert", a.ID, "token", a.TokenID, "attempt", x.attempts+1, "retry_in", backoff, "err", serr)
				// Hold back every pending alert of this sink, not just this
				// one, so they stay in order and we do not hammer a sink
				// that is down.
				_, err := db.ExecContext(ctx, db.Rebind(`UPDATE honeytoken_deliveries SET attempts = attempts + 1, next_ns = ?, last_error = ? WHERE sink = ? AND alert_id = ?`),
					d.now().Add(backoff).UnixNano(), truncate(serr.Error(), 300), s.Name(), x.alertID)
				if err != nil {
					return 0, fmt.Errorf("updating the delivery queue: %w", err)
				}
				_, err = db.ExecContext(ctx, db.Rebind(`UPDATE honeytoken_deliveries SET next_ns = ? WHERE sink = ? AND delivered_ns IS NULL AND next_ns < ?`),
					d.now().Add(backoff).UnixNano(), s.Name(), d.now().Add(backoff).UnixNano())
				if err != nil {
					return 0, fmt.Errorf("updating the delivery queue: %w", err)
				}
				return backoff, nil
			}
			if _, err := db.ExecContext(ctx, db.Rebind(`UPDATE honeytoken_deliveries SET attempts = attempts + 1, delivered_ns = ?, last_error = '' WHERE sink = ? AND alert_id = ?`),
				d.now().UnixNano(), s.Name(), x.alertID); err != nil {
				return 0, fmt.Errorf("updating the delivery queue: %w", err)
			}
		}
	}
}

func (d *Dispatcher) nextDue(ctx context.Context, s Sink) (time.Duration, error) {
	db := d.reg.db
	var next *int64
	err := db.QueryRowContext(ctx, db.Rebind(`SELECT MIN(next_ns) FROM honeytoken_deliveries WHERE sink = ? AND delivered_ns IS NULL`), s.Name()).Scan(&next)
	if err != nil {
		return 0, fmt.Errorf("reading the delivery queue: %w", err)
	}
	if next == nil {
		return 0, nil
	}
	w := time.Duration(*next - d.now().UnixNano())
	if w < time.Millisecond {
		w = time.Millisecond
	}
	return w, nil
}

func (d *Dispatcher) backoff(attempt int64) time.Duration {
	b := d.minBackoff
	for i := int64(1); i < attempt && b < d.maxBackoff; i++ {
		b *= 2
	}
	if b > d.maxBackoff {
		b = d.maxBackoff
	}
	return b
}

// Pending counts undelivered alerts for the dispatcher's sinks.
func (d *Dispatcher) Pending(ctx context.Context) (int, error) {
	total := 0
	for _, s := range d.sinks {
		var n int
		if err := d.reg.db.QueryRowContext(ctx, d.reg.db.Rebind(`SELECT COUNT(*) FROM honeytoken_deliveries WHERE sink = ? AND delivered_ns IS NULL`), s.Name()).Scan(&n); err != nil {
			return 0, fmt.Errorf("reading the delivery queue: %w", err)
		}
		total += n
	}
	return total, nil
}

// Drain delivers what is pending, retrying until every alert is delivered
// or ctx ends; what is left stays queued.
func (d *Dispatcher) Drain(ctx context.Context) error {
	for {
		var wait time.Duration
		for _, s := range d.sinks {
			w, err := d.deliverDue(ctx, s)
			if err != nil {
				return err
			}
			if w > 0 && (wait == 0 || w < wait) {
				wait = w
			}
		}
		if wait == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
