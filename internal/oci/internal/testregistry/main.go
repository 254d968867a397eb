// Command testregistry serves go-containerregistry's in-memory registry with
// the OCI 1.1 referrers API on a loopback address. Tests start it as a real
// process (next to distribution's registry, which has no referrers API) so
// that both discovery paths run against a registry over HTTP.
//
// It prints "listening on HOST:PORT" on stdout once it accepts connections.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	verbose := flag.Bool("log", false, "log every request to stderr")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		log.Fatalf("testregistry: bad --listen: %v", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		log.Fatalf("testregistry: refusing to listen on non-loopback address %q", *addr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("testregistry: %v", err)
	}
	fmt.Fprintf(os.Stdout, "listening on %s\n", ln.Addr())
	logTo := io.Discard
	if *verbose {
		logTo = os.Stderr
	}
	srv := &http.Server{
		Handler:           registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(logTo, "", 0))),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Fatal(srv.Serve(ln))
}
