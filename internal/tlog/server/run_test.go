package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pipeguard/pipeguard/internal/sign"
	"github.com/pipeguard/pipeguard/internal/tlog"
)

// TestRunServesAndShutsDownGracefully runs the server as `pipeguard
// server` does, registers a builder the way `server add-builder` does
// without --db (so on PostgreSQL it must find the store the server uses),
// logs an entry, and stops the server through its context.
func TestRunServesAndShutsDownGracefully(t *testing.T) {
	for _, be := range storeBackends() {
		t.Run(be.name, func(t *testing.T) {
			dsn := be.dsn(t)
			homeDir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ready := make(chan string, 1)
			done := make(chan error, 1)
			go func() {
				done <- Run(ctx, Config{Home: homeDir, DSN: dsn, Listen: "127.0.0.1:0", Ready: func(a string) { ready <- a }})
			}()
			var addr string
			select {
			case addr = <-ready:
			case err := <-done:
				t.Fatalf("server stopped: %v", err)
			}
			k, _ := sign.GenerateKey(sign.AlgECDSAP256)
			pub, _ := sign.EncodePublicKey(k.Public())
			// The home records the store without its password, which
			// add-builder takes from PGPASSWORD as any libpq client does.
			if u, err := url.Parse(dsn); err == nil && u.User != nil {
				if pw, ok := u.User.Password(); ok {
					t.Setenv("PGPASSWORD", pw)
				}
			}
			tok, err := AddBuilder(context.Background(), homeDir, "", "ci", pub)
			if err != nil {
				t.Fatal(err)
			}
			s, _ := sign.NewSigner(k)
			c, err := tlog.NewClient("http://"+addr, tok)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Blob(context.Background(), []byte("x"), sign.WithTransparencyLog(c)); err != nil {
				t.Fatalf("logging with a builder added without --db: %v", err)
			}
			id, err := tlog.LoadPublicIdentity(LogDir(homeDir))
			if err != nil || id.Origin != "127.0.0.1" {
				t.Fatalf("log origin: %v %v", id, err)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, http.ErrServerClosed) {
					t.Fatalf("shutdown: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("server did not shut down")
			}
			if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
				t.Fatal("server still answers after shutdown")
			}
		})
	}
}
