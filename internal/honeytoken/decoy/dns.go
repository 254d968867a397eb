package decoy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// maxDNSPacket is the largest query the DNS decoy reads; anything longer
// is cut and then fails to parse.
const maxDNSPacket = 1232

// DNS is an authoritative DNS server for one zone. Any query for a name
// under the zone whose labels include a token's label is a hit. Every name
// under the zone gets the same kind of answer, so a query cannot tell a
// token name from any other.
type DNS struct {
	zone   string // lowercase, with trailing dot
	answer [4]byte
	idx    Index
	rec    Recorder
	lim    *Limiter
	log    *slog.Logger
	soa    dnsmessage.SOAResource
	zoneN  dnsmessage.Name
	nsName dnsmessage.Name
}

// DNSOption configures the DNS decoy.
type DNSOption func(*DNS)

// WithDNSLimiter sets the per-source response limiter.
func WithDNSLimiter(l *Limiter) DNSOption { return func(d *DNS) { d.lim = l } }

// WithDNSLogger sets the logger.
func WithDNSLogger(l *slog.Logger) DNSOption { return func(d *DNS) { d.log = l } }

// WithDNSAnswer sets the IPv4 address every A query under the zone gets.
func WithDNSAnswer(a netip.Addr) DNSOption {
	return func(d *DNS) {
		if a.Is4() {
			d.answer = a.As4()
		}
	}
}

// NewDNS returns the DNS decoy for zone.
func NewDNS(zone string, idx Index, rec Recorder, opts ...DNSOption) (*DNS, error) {
	zone = strings.ToLower(strings.TrimSuffix(zone, ".")) + "."
	zn, err := dnsmessage.NewName(zone)
	if err != nil || zone == "." {
		return nil, fmt.Errorf("DNS zone %q is not a valid name", zone)
	}
	ns := dnsmessage.MustNewName("ns1." + zone)
	d := &DNS{
		zone: zone, zoneN: zn, nsName: ns, idx: idx, rec: rec, log: slog.Default(),
		answer: [4]byte{127, 0, 0, 1},
		soa: dnsmessage.SOAResource{
			NS: ns, MBox: dnsmessage.MustNewName("hostmaster." + zone),
			Serial: 2024010101, Refresh: 7200, Retry: 3600, Expire: 1209600, MinTTL: 0,
		},
	}
	for _, o := range opts {
		o(d)
	}
	return d, nil
}

// Handle answers one query packet from src; nil means send nothing.
func (d *DNS) Handle(ctx context.Context, src netip.Addr, req []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil || h.Response {
		return nil
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, OpCode: h.OpCode, RecursionDesired: h.RecursionDesired}
	if h.OpCode != 0 {
		rh.RCode = dnsmessage.RCodeNotImplemented
		return d.reply(src, rh, nil)
	}
	q, err := p.Question()
	if err != nil {
		rh.RCode = dnsmessage.RCodeFormatError
		return d.reply(src, rh, nil)
	}
	if _, err := p.Question(); !errors.Is(err, dnsmessage.ErrSectionDone) {
		rh.RCode = dnsmessage.RCodeFormatError
		return d.reply(src, rh, nil)
	}
	if q.Class != dnsmessage.ClassINET && q.Class != dnsmessage.ClassANY {
		rh.RCode = dnsmessage.RCodeRefused
		return d.reply(src, rh, nil)
	}
	name := strings.ToLower(q.Name.String())
	if name != d.zone && !strings.HasSuffix(name, "."+d.zone) {
		rh.RCode = dnsmessage.RCodeRefused
		return d.reply(src, rh, nil)
	}
	d.record(ctx, src, q, strings.TrimSuffix(strings.TrimSuffix(name, d.zone), "."))
	rh.Authoritative = true
	return d.reply(src, rh, &q)
}

// record looks every label left of the zone up; canary names may carry
// extra labels in front of the token's.
func (d *DNS) record(ctx context.Context, src netip.Addr, q dnsmessage.Question, prefix string) {
	if prefix == "" {
		return
	}
	labels := strings.Split(prefix, ".")
	if len(labels) > 8 {
		labels = labels[len(labels)-8:]
	}
	ids, matched := lookupAll(d.idx, labels)
	if len(ids) == 0 {
		return
	}
	hit := Hit{
		Time:    time.Now().UTC(),
		Channel: "dns",
		Source:  src.String(),
		Summary: sanitize(strings.TrimPrefix(q.Type.String(), "Type")+" "+redact(strings.ToLower(q.Name.String()), matched), 300),
	}
	for _, id := range ids {
		hit.TokenID = id
		if err := d.rec.Record(ctx, hit); err != nil {
			d.log.Error("recording honeytoken hit", "token", id, "err", err)
		}
	}
}

func (d *DNS) reply(src netip.Addr, h dnsmessage.Header, q *dnsmessage.Question) []byte {
	if !d.lim.Allow(src) {
		return nil
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), h)
	b.EnableCompression()
	if q == nil {
		if err := b.StartQuestions(); err != nil {
			return nil
		}
		out, err := b.Finish()
		if err != nil {
			return nil
		}
		return out
	}
	if err := b.StartQuestions(); err != nil {
		return nil
	}
	if err := b.Question(*q); err != nil {
		return nil
	}
	apex := strings.EqualFold(q.Name.String(), d.zone)
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET}
	if err := b.StartAnswers(); err != nil {
		return nil
	}
	answered := false
	switch {
	case q.Type == dnsmessage.TypeA:
		// TTL 0 so resolvers come back to us for every use.
		rh.TTL = 0
		if b.AResource(rh, dnsmessage.AResource{A: d.answer}) == nil {
			answered = true
		}
	case apex && q.Type == dnsmessage.TypeSOA:
		rh.TTL = 3600
		answered = b.SOAResource(rh, d.soa) == nil
	case apex && q.Type == dnsmessage.TypeNS:
		rh.TTL = 3600
		answered = b.NSResource(rh, dnsmessage.NSResource{NS: d.nsName}) == nil
	}
	if !answered {
		// No data of this type: the SOA in the authority section tells
		// resolvers how long to remember that.
		if err := b.StartAuthorities(); err != nil {
			return nil
		}
		if err := b.SOAResource(dnsmessage.ResourceHeader{Name: d.zoneN, Class: dnsmessage.ClassINET, TTL: 0}, d.soa); err != nil {
			return nil
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// ServePacket answers queries on pc until ctx ends.
func (d *DNS) ServePacket(ctx context.Context, pc net.PacketConn) error {
	go func() {
		<-ctx.Done()
		pc.Close()
	}()
	buf := make([]byte, maxDNSPacket)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("reading DNS query: %w", err)
		}
		ua, ok := addr.(*net.UDPAddr)
		if !ok {
			continue
		}
		src, _ := netip.AddrFromSlice(ua.IP)
		if resp := d.Handle(ctx, src.Unmap(), buf[:n]); resp != nil {
			pc.WriteTo(resp, addr)
		}
	}
}

// ServeStream answers DNS over TCP on ln until ctx ends: resolvers retry
// there when an answer is truncated, and some tools ask there first. At
// most maxConns connections, a few queries each, under a deadline.
func (d *DNS) ServeStream(ctx context.Context, ln net.Listener, maxConns int) error {
	return serveConns(ctx, ln, maxConns, "DNS", 10*time.Second, func(c net.Conn) {
		d.stream(ctx, c, remoteAddr(c.RemoteAddr().String()))
	})
}

// stream handles length-prefixed queries on one connection.
func (d *DNS) stream(ctx context.Context, rw io.ReadWriter, src netip.Addr) {
	var hdr [2]byte
	buf := make([]byte, maxDNSPacket)
	for i := 0; i < 8; i++ {
		if _, err := io.ReadFull(rw, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[:]))
		if n == 0 || n > maxDNSPacket {
			return
		}
		if _, err := io.ReadFull(rw, buf[:n]); err != nil {
			return
		}
		resp := d.Handle(ctx, src, buf[:n])
		if resp == nil {
			return
		}
		out := make([]byte, 2, 2+len(resp))
		binary.BigEndian.PutUint16(out, uint16(len(resp)))
		if _, err := rw.Write(append(out, resp...)); err != nil {
			return
		}
	}
}
