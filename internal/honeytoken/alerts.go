package honeytoken

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pipeguard/pipeguard/internal/honeytoken/decoy"
)

// Alert kinds: the first use of a token alerts at once; repeats within the
// grouping window become one follow-up carrying their count.
const (
	KindFirst  = "first"
	KindRepeat = "repeat"
)

// Alert is what sinks receive. It never contains the token's secret.
type Alert struct {
	ID        string    `json:"alert_id"`
	TokenID   string    `json:"token_id"`
	TokenType Type      `json:"token_type"`
	Note      string    `json:"note"`
	Planted   []string  `json:"planted,omitempty"`
	Kind      string    `json:"kind"`
	Count     int64     `json:"count"`
	Time      time.Time `json:"time"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Channel   string    `json:"channel"`
	Source    string    `json:"source"`
	UserAgent string    `json:"user_agent,omitempty"`
	Summary   string    `json:"summary"`
}

// Hit is an observed use of a token (from a decoy or from CloudTrail).
type Hit = decoy.Hit

// hitWithKey carries an optional dedupe key: a hit whose key was already
// recorded (the same CloudTrail event ingested twice) is ignored.
type hitWithKey struct {
	Hit
	dedupe string
}

// Recorder stores hits in batches, groups repeats and raises alerts into
// the delivery queue. Record applies backpressure when the queue is full
// and never drops a hit.
type Recorder struct {
	reg    *Registry
	window time.Duration
	sinks  []string
	in     chan hitWithKey
	kick   func()
	log    *slog.Logger
	now    func() time.Time
	done   chan struct{}
}

// RecorderOption configures a Recorder.
type RecorderOption func(*Recorder)

// WithWindow sets how long repeats of a token are grouped into one
// follow-up alert.
func WithWindow(d time.Duration) RecorderOption { return func(r *Recorder) { r.window = d } }

// WithSinks names the sinks every new alert is queued for.
func WithSinks(names ...string) RecorderOption { return func(r *Recorder) { r.sinks = names } }

// WithKick sets a function called after alerts were committed (it wakes
// the dispatcher).
func WithKick(f func()) RecorderOption { return func(r *Recorder) { r.kick = f } }

// WithRecorderLogger sets the logger.
func WithRecorderLogger(l *slog.Logger) RecorderOption { return func(r *Recorder) { r.log = l } }

// NewRecorder returns a recorder over the registry's store.
func NewRecorder(reg *Registry, opts ...RecorderOption) *Recorder {
	r := &Recorder{reg: reg, window: 5 * time.Minute, in: make(chan hitWithKey, 8192), kick: func() {}, log: slog.Default(), now: time.Now, done: make(chan struct{})}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Record queues a hit for Run to store. It blocks while the queue is full.
func (r *Recorder) Record(ctx context.Context, h Hit) error {
	// The queue first: a client that hangs up must not turn its hit into
	// a synchronous write.
	select {
	case r.in <- hitWithKey{Hit: h}:
		return nil
	default:
	}
	select {
	case r.in <- hitWithKey{Hit: h}:
		return nil
	case <-r.done:
		// Run has stopped: store it directly rather than lose it.
		return r.Store(context.WithoutCancel(ctx), []Hit{h}, nil)
	case <-ctx.Done():
		// The request went away; the hit still counts.
		return r.Store(context.WithoutCancel(ctx), []Hit{h}, nil)
	}
}

// Run stores queued hits in batches and closes grouping windows until ctx
// ends; then it drains what is queued and returns.
func (r *Recorder) Run(ctx context.Context) error {
	defer close(r.done)
	tick := time.NewTicker(r.tickInterval())
	defer tick.Stop()
	batch := make([]hitWithKey, 0, 1024)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		for {
			err := r.store(context.WithoutCancel(ctx), batch)
			if err == nil {
				break
			}
			// The store is unavailable: keep the hits and retry, which
			// pushes back on the listeners instead of losing hits.
			r.log.Error("storing honeytoken hits; retrying", "hits", len(batch), "err", err)
			time.Sleep(500 * time.Millisecond)
		}
		batch = batch[:0]
	}
	for {
		select {
		case h := <-r.in:
			batch = append(batch, h)
		drain:
			for len(batch) < cap(batch) {
				select {
				case h := <-r.in:
					batch = append(batch, h)
				default:
					break drain
				}
			}
			flush()
		case <-tick.C:
			if err := r.CloseWindows(ctx); err != nil && ctx.Err() == nil {
				r.log.Error("closing honeytoken alert windows", "err", err)
			}
		case <-ctx.Done():
			for {
				select {
				case h := <-r.in:
					batch = append(batch, h)
					if len(batch) == cap(batch) {
						flush()
					}
					continue
				default:
				}
				break
			}
			flush()
			return nil
		}
	}
}

func (r *Recorder) tickInterval() time.Duration {
	d := r.window / 4
	if d < 50*time.Millisecond {
		d = 50 * time.Millisecond
	}
	if d > time.Second {
		d = time.Second
	}
	return d
}

// Store records hits synchronously. dedupe, when given, has one key per
// hit ("" for none).
func (r *Recorder) Store(ctx context.Context, hits []Hit, dedupe []string) error {
	b := make([]hitWithKey, len(hits))
	for i, h := range hits {
		b[i].Hit = h
		if dedupe != nil {
			b[i].dedupe = dedupe[i]
		}
	}
	return r.store(ctx, b)
}

func newRowID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return lowerB32.EncodeToString(b)
}

type group struct {
	windowEnd, count, first, last int64
	channel, source, ua, summary  string
	exists                        bool
}

// store writes a batch in one transaction: every hit, the first-hit
// alerts, and the grouping state.
func (r *Recorder) store(ctx context.Context, hits []hitWithKey) error {
	db := r.reg.db
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("recording honeytoken hits: %w", err)
	}
	defer tx.Rollback()
	insHit, err := tx.PrepareContext(ctx, db.Rebind(`INSERT INTO honeytoken_hits (id, token_id, at_ns, channel, source, user_agent, summary, dedupe) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`))
	if err != nil {
		return fmt.Errorf("recording honeytoken hits: %w", err)
	}
	defer insHit.Close()
	groups := make(map[string]*group)
	raised := 0
	for _, h := range hits {
		var dd any
		if h.dedupe != "" {
			dd = h.dedupe
		}
		at := h.Time.UnixNano()
		res, err := insHit.ExecContext(ctx, newRowID(), h.TokenID, at, h.Channel, h.Source, h.UserAgent, h.Summary, dd)
		if err != nil {
			return fmt.Errorf("recording honeytoken hit: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // already recorded
		}
		g, ok := groups[h.TokenID]
		if !ok {
			g, err = loadGroup(ctx, tx, r, h.TokenID)
			if err != nil {
				return err
			}
			groups[h.TokenID] = g
		}
		if g.exists && at < g.windowEnd {
			if g.count == 0 {
				g.first = at
			}
			g.count++
			if at > g.last {
				g.last = at
			}
			g.channel, g.source, g.ua, g.summary = h.Channel, h.Source, h.UserAgent, h.Summary
			continue
		}
		if g.exists && g.count > 0 {
			if err := r.raise(ctx, tx, h.TokenID, KindRepeat, g.count, g.first, g.last, g.channel, g.source, g.ua, g.summary); err != nil {
				return err
			}
			raised++
		}
		if err := r.raise(ctx, tx, h.TokenID, KindFirst, 1, at, at, h.Channel, h.Source, h.UserAgent, h.Summary); err != nil {
			return err
		}
		raised++
		// The follow-up window starts at the first hit; its repeats are
		// counted from the next one on.
		*g = group{exists: true, windowEnd: at + int64(r.window)}
	}
	for id, g := range groups {
		if !g.exists {
			continue
		}
		q := `INSERT INTO honeytoken_groups (token_id, window_end_ns, count, first_ns, last_ns, channel, source, user_agent, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (token_id) DO UPDATE SET window_end_ns = excluded.window_end_ns, count = excluded.count, first_ns = excluded.first_ns, last_ns = excluded.last_ns,
			channel = excluded.channel, source = excluded.source, user_agent = excluded.user_agent, summary = excluded.summary`
		if _, err := tx.ExecContext(ctx, db.Rebind(q), id, g.windowEnd, g.count, g.first, g.last, g.channel, g.source, g.ua, g.summary); err != nil {
			return fmt.Errorf("recording honeytoken alert window: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recording honeytoken hits: %w", err)
	}
	if raised > 0 {
		r.kick()
	}
	return nil
}

func loadGroup(ctx context.Context, tx *sql.Tx, r *Recorder, tokenID string) (*group, error) {
	g := &group{}
	err := tx.QueryRowContext(ctx, r.reg.db.Rebind(`SELECT window_end_ns, count, first_ns, last_ns, channel, source, user_agent, summary FROM honeytoken_groups WHERE token_id = ?`), tokenID).
		Scan(&g.windowEnd, &g.count, &g.first, &g.last, &g.channel, &g.source, &g.ua, &g.summary)
	switch {
	case err == nil:
		g.exists = true
	case errors.Is(err, sql.ErrNoRows):
	default:
		return nil, fmt.Errorf("reading honeytoken alert window: %w", err)
	}
	return g, nil
}

// raise inserts an alert and queues it for every sink.
func (r *Recorder) raise(ctx context.Context, tx *sql.Tx, tokenID, kind string, count, first, last int64, channel, source, ua, summary string) error {
	db := r.reg.db
	id := "al_" + newRowID()
	now := r.now().UnixNano()
	q := `INSERT INTO honeytoken_alerts (id, token_id, kind, at_ns, count, first_ns, last_ns, channel, source, user_agent, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	if _, err := tx.ExecContext(ctx, db.Rebind(q), id, tokenID, kind, now, count, first, last, channel, source, ua, summary); err != nil {
		return fmt.Errorf("raising honeytoken alert: %w", err)
	}
	for _, s := range r.sinks {
		if _, err := tx.ExecContext(ctx, db.Rebind(`INSERT INTO honeytoken_deliveries (alert_id, sink, attempts, next_ns) VALUES (?, ?, 0, ?)`), id, s, now); err != nil {
			return fmt.Errorf("queueing honeytoken alert: %w", err)
		}
	}
	return nil
}

// CloseWindows raises the follow-up alert of every grouping window that
// has ended with repeats in it.
func (r *Recorder) CloseWindows(ctx context.Context) error {
	db := r.reg.db
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("closing alert windows: %w", err)
	}
	defer tx.Rollback()
	now := r.now().UnixNano()
	rows, err := tx.QueryContext(ctx, db.Rebind(`SELECT token_id, count, first_ns, last_ns, channel, source, user_agent, summary FROM honeytoken_groups WHERE window_end_ns <= ?`), now)
	if err != nil {
		return fmt.Errorf("closing alert windows: %w", err)
	}
	type closed struct {
		id                           string
		count, first, last           int64
		channel, source, ua, summary string
	}
	var done []closed
	for rows.Next() {
		var c closed
		if err := rows.Scan(&c.id, &c.count, &c.first, &c.last, &c.channel, &c.source, &c.ua, &c.summary); err != nil {
			rows.Close()
			return fmt.Errorf("closing alert windows: %w", err)
		}
		done = append(done, c)
	}
	rows.Close()
	if len(done) == 0 {
		return nil
	}
	raised := 0
	for _, c := range done {
		if c.count > 0 {
			if err := r.raise(ctx, tx, c.id, KindRepeat, c.count, c.first, c.last, c.channel, c.source, c.ua, c.summary); err != nil {
				return err
			}
			raised++
		}
		if _, err := tx.ExecContext(ctx, db.Rebind(`DELETE FROM honeytoken_groups WHERE token_id = ?`), c.id); err != nil {
			return fmt.Errorf("closing alert windows: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("closing alert windows: %w", err)
	}
	if raised > 0 {
		r.kick()
	}
	return nil
}

// AlertFilter selects alerts.
type AlertFilter struct {
	TokenID string
	Limit   int
}

// AlertRecord is an alert with its delivery state.
type AlertRecord struct {
	Alert
	Pending   []string `json:"pending_sinks,omitempty"`
	Delivered []string `json:"delivered_sinks,omitempty"`
}

// Alerts lists alerts, newest last.
func (r *Registry) Alerts(ctx context.Context, f AlertFilter) ([]AlertRecord, error) {
	q := `SELECT id FROM honeytoken_alerts`
	var args []any
	if f.TokenID != "" {
		q += ` WHERE token_id = ?`
		args = append(args, f.TokenID)
	}
	q += ` ORDER BY at_ns DESC, id`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	rows, err := r.db.QueryContext(ctx, r.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("listing honeytoken alerts: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	out := make([]AlertRecord, 0, len(ids))
	for i := len(ids) - 1; i >= 0; i-- {
		a, err := r.alert(ctx, ids[i])
		if err != nil {
			return nil, err
		}
		rec := AlertRecord{Alert: *a}
		drows, err := r.db.QueryContext(ctx, r.db.Rebind(`SELECT sink, delivered_ns FROM honeytoken_deliveries WHERE alert_id = ? ORDER BY sink`), a.ID)
		if err != nil {
			return nil, fmt.Errorf("listing honeytoken alerts: %w", err)
		}
		for drows.Next() {
			var s string
			var d sql.NullInt64
			if err := drows.Scan(&s, &d); err != nil {
				drows.Close()
				return nil, err
			}
			if d.Valid {
				rec.Delivered = append(rec.Delivered, s)
			} else {
				rec.Pending = append(rec.Pending, s)
			}
		}
		drows.Close()
		out = append(out, rec)
	}
	return out, nil
}

// alert loads one alert with its token's details.
func (r *Registry) alert(ctx context.Context, id string) (*Alert, error) {
	var a Alert
	var at, first, last int64
	err := r.db.QueryRowContext(ctx, r.db.Rebind(`SELECT id, token_id, kind, at_ns, count, first_ns, last_ns, channel, source, user_agent, summary FROM honeytoken_alerts WHERE id = ?`), id).
		Scan(&a.ID, &a.TokenID, &a.Kind, &at, &a.Count, &first, &last, &a.Channel, &a.Source, &a.UserAgent, &a.Summary)
	if err != nil {
		return nil, fmt.Errorf("reading honeytoken alert %s: %w", id, err)
	}
	a.Time, a.FirstSeen, a.LastSeen = time.Unix(0, at).UTC(), time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
	rows, err := r.db.QueryContext(ctx, r.db.Rebind(`SELECT `+tokenCols+` FROM honeytokens WHERE id = ?`), a.TokenID)
	if err != nil {
		return nil, fmt.Errorf("reading honeytoken alert %s: %w", id, err)
	}
	defer rows.Close()
	if rows.Next() {
		t, err := r.scanToken(rows, false)
		if err != nil {
			return nil, err
		}
		a.TokenType, a.Note, a.Planted = t.Type, t.Note, t.Planted
	}
	return &a, rows.Err()
}

// HitCount returns how many hits were recorded (for one token, or all).
func (r *Registry) HitCount(ctx context.Context, tokenID string) (int64, error) {
	q, args := `SELECT COUNT(*) FROM honeytoken_hits`, []any{}
	if tokenID != "" {
		q += ` WHERE token_id = ?`
		args = append(args, tokenID)
	}
	var n int64
	if err := r.db.QueryRowContext(ctx, r.db.Rebind(q), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting honeytoken hits: %w", err)
	}
	return n, nil
}
