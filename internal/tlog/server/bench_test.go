package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/pipeguard/pipeguard/internal/sign"
	"github.com/pipeguard/pipeguard/internal/tlog"
)

// BenchmarkAddEntry measures the submit path end to end over loopback
// HTTP (validation, signature check, sequencing, checkpoint, proof),
// with 256 concurrent clients. Each op is one acknowledged entry.
func BenchmarkAddEntry(b *testing.B) {
	ts := newTestServer(b, "")
	bl := ts.addBuilder(b, "bench", sign.AlgECDSAP256)
	ctx := context.Background()
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bun, err := bl.signer.Blob(ctx, fmt.Appendf(nil, "entry %d", i))
		if err != nil {
			b.Fatal(err)
		}
		req, _ := tlog.RequestFor(bl.pubPEM, bun)
		bodies[i], _ = tlog.MarshalRequest(req)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	var next atomic.Int64
	b.SetParallelism(128) // 128 x GOMAXPROCS(2) clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			req, _ := http.NewRequest(http.MethodPost, ts.url+tlog.PathEntries, bytes.NewReader(bodies[i]))
			req.Header.Set("Authorization", "Bearer "+bl.token)
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
