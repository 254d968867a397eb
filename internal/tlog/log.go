package tlog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
)

// ErrPushback means the log has too many entries in flight; retry later.
var ErrPushback = tessera.ErrPushback

// Log is an open, writable log.
type Log struct {
	id       *Identity
	verifier note.Verifier
	add      tessera.AddFn
	reader   tessera.LogReader
	shutdown func(context.Context) error
	log      *slog.Logger
	proofs   *nodeCache

	mu      sync.Mutex
	cp      *published    // latest published checkpoint seen
	changed chan struct{} // closed when cp changes
	waiters int
	wake    chan struct{}
	stop    context.CancelFunc
	done    chan struct{}
}

// published is a checkpoint this process verified.
type published struct {
	raw []byte
	cp  *flog.Checkpoint
}

type logOptions struct {
	batchSize  uint
	batchAge   time.Duration
	cpInterval time.Duration
	pushback   uint
	poll       time.Duration
	log        *slog.Logger
}

// LogOption tunes the log.
type LogOption func(*logOptions)

// WithBatching sets how many entries, or how long, Tessera gathers before
// sequencing them together.
func WithBatching(size uint, age time.Duration) LogOption {
	return func(o *logOptions) { o.batchSize, o.batchAge = size, age }
}

// WithCheckpointInterval sets how often a new checkpoint is signed (at
// least 100ms): the floor of the latency to inclusion.
func WithCheckpointInterval(d time.Duration) LogOption {
	return func(o *logOptions) { o.cpInterval = d }
}

// WithPushback bounds the entries in flight before Add refuses new ones.
func WithPushback(n uint) LogOption { return func(o *logOptions) { o.pushback = n } }

// WithLogger sets the structured logger.
func WithLogger(l *slog.Logger) LogOption { return func(o *logOptions) { o.log = l } }

// OpenLog opens (creating on first use) the Tessera POSIX log under dir,
// signing checkpoints with id.
func OpenLog(ctx context.Context, dir string, id *Identity, opts ...LogOption) (*Log, error) {
	o := &logOptions{batchSize: 1024, batchAge: 50 * time.Millisecond, cpInterval: 100 * time.Millisecond,
		pushback: 16384, poll: 10 * time.Millisecond, log: slog.Default()}
	for _, f := range opts {
		f(o)
	}
	signer, err := id.NoteSigner()
	if err != nil {
		return nil, err
	}
	verifier, err := id.NoteVerifier()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating log storage: %w", err)
	}
	driver, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		return nil, fmt.Errorf("opening log storage: %w", err)
	}
	ao := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithBatching(o.batchSize, o.batchAge).
		WithCheckpointInterval(o.cpInterval).
		WithPushback(o.pushback).
		// Recent identical submissions (a client retrying after a lost
		// answer) resolve to the first entry instead of being logged again.
		WithAntispam(tessera.DefaultAntispamInMemorySize, nil)
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	app, shutdown, reader, err := tessera.NewAppender(bg, driver, ao)
	if err != nil {
		stop()
		return nil, fmt.Errorf("starting log appender: %w", err)
	}
	l := &Log{id: id, verifier: verifier, add: app.Add, reader: reader, shutdown: shutdown, log: o.log, proofs: newNodeCache(reader.ReadTile),
		changed: make(chan struct{}), wake: make(chan struct{}, 1), stop: stop, done: make(chan struct{})}
	go l.pollLoop(bg, o.poll)
	return l, nil
}

// Identity returns the log's identity.
func (l *Log) Identity() *Identity { return l.id }

// Close stops accepting entries, lets Tessera flush what it holds and
// stops the background work.
func (l *Log) Close(ctx context.Context) error {
	err := l.shutdown(ctx)
	l.stop()
	<-l.done
	return err
}

// Add logs a validated entry and waits until a signed checkpoint commits
// to it. The returned entry carries the inclusion proof against that
// checkpoint, already verified, so it is only acknowledged once durable in
// the tiles and provable. An identical entry submitted recently (in this
// process) is not logged twice: Add returns the first one.
func (l *Log) Add(ctx context.Context, e *Entry) (*protorekor.TransparencyLogEntry, error) {
	te := tessera.NewEntry(e.Body)
	idx, err := l.add(ctx, te)()
	if err != nil {
		return nil, fmt.Errorf("sequencing entry: %w", err)
	}
	p, err := l.await(ctx, idx.Index)
	if err != nil {
		return nil, err
	}
	return l.entryWithProof(ctx, p, idx.Index, e.Body)
}

// await blocks until a published checkpoint covers index.
func (l *Log) await(ctx context.Context, index uint64) (*published, error) {
	l.mu.Lock()
	l.waiters++
	defer func() { l.mu.Lock(); l.waiters--; l.mu.Unlock() }()
	for {
		cp, ch := l.cp, l.changed
		l.mu.Unlock()
		if cp != nil && cp.cp.Size > index {
			return cp, nil
		}
		select {
		case l.wake <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for entry %d to be published: %w", index, ctx.Err())
		}
		l.mu.Lock()
	}
}

// pollLoop reads the published checkpoint while anyone waits for one.
func (l *Log) pollLoop(ctx context.Context, every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.wake:
		}
		l.mu.Lock()
		idle := l.waiters == 0
		l.mu.Unlock()
		if idle {
			continue
		}
		if _, err := l.refresh(ctx); err != nil && !errors.Is(err, fs.ErrNotExist) {
			l.log.Warn("reading published checkpoint", "err", err)
		}
	}
}

// refresh reads and verifies the published checkpoint. A checkpoint that
// does not verify, or that is smaller than one seen before, is refused.
func (l *Log) refresh(ctx context.Context) (*published, error) {
	raw, err := l.reader.ReadCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	cur := l.cp
	l.mu.Unlock()
	if cur != nil && string(cur.raw) == string(raw) {
		return cur, nil
	}
	cp, _, _, err := flog.ParseCheckpoint(raw, l.id.Origin, l.verifier)
	if err != nil {
		return nil, fmt.Errorf("published checkpoint does not verify: %w", err)
	}
	if cur != nil && cp.Size < cur.cp.Size {
		return nil, fmt.Errorf("published checkpoint shrank from %d to %d", cur.cp.Size, cp.Size)
	}
	p := &published{raw: raw, cp: cp}
	l.mu.Lock()
	l.cp = p
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	return p, nil
}

// Checkpoint returns the latest published checkpoint, verified.
func (l *Log) Checkpoint(ctx context.Context) ([]byte, *flog.Checkpoint, error) {
	p, err := l.refresh(ctx)
	if err != nil {
		return nil, nil, err
	}
	return p.raw, p.cp, nil
}

func (l *Log) entryWithProof(ctx context.Context, p *published, index uint64, body []byte) (*protorekor.TransparencyLogEntry, error) {
	hashes, err := l.proofs.inclusion(ctx, index, p.cp.Size)
	if err != nil {
		return nil, fmt.Errorf("building inclusion proof for %d: %w", index, err)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(body)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, p.cp.Size, leaf, hashes, p.cp.Hash); err != nil {
		l.proofs.reset()
		return nil, fmt.Errorf("inclusion proof for %d does not verify: %w", index, err)
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex:    int64(index),
		LogId:       &protocommon.LogId{KeyId: l.id.LogID()},
		KindVersion: &protorekor.KindVersion{Kind: EntryKind, Version: EntryVersion},
		InclusionProof: &protorekor.InclusionProof{
			LogIndex:   int64(index),
			RootHash:   p.cp.Hash,
			TreeSize:   int64(p.cp.Size),
			Hashes:     hashes,
			Checkpoint: &protorekor.Checkpoint{Envelope: string(p.raw)},
		},
		CanonicalizedBody: body,
	}, nil
}

// ReadTile reads a hash tile (C2SP tlog-tiles).
func (l *Log) ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	return l.reader.ReadTile(ctx, level, index, p)
}

// ReadEntryBundle reads an entry bundle (C2SP tlog-tiles).
func (l *Log) ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error) {
	return l.reader.ReadEntryBundle(ctx, index, p)
}
