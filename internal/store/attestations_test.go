package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pipeguard/pipeguard/internal/store/storetest"
)

// testDSNs returns a fresh SQLite database and, when PIPEGUARD_TEST_POSTGRES
// is set, a fresh schema on that PostgreSQL server.
func testDSNs(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{"sqlite": filepath.Join(t.TempDir(), "test.db"), "postgres": storetest.PostgresDSN(t)}
}

func TestAttestationStore(t *testing.T) {
	for name, dsn := range testDSNs(t) {
		t.Run(name, func(t *testing.T) {
			if dsn == "" {
				t.Skipf("%s is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable): skipping the PostgreSQL store test; CI sets it", storetest.EnvPostgres)
			}
			ctx := context.Background()
			db, err := Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.MigrateAttestations(ctx); err != nil {
				t.Fatal(err)
			}
			if err := db.MigrateAttestations(ctx); err != nil {
				t.Fatalf("migrating twice: %v", err)
			}
			t0 := time.Unix(1_700_000_000, 0)
			a1 := &Attestation{ID: "a1", Bundle: []byte(`{"n":1}`), PredicateType: "https://slsa.dev/provenance/v1", Signer: "k1", BuilderID: "b1", LogIndex: 7, Created: t0,
				Subjects: []AttestationSubject{{Name: "app", Digest: "sha256:AA"}, {Name: "lib", Digest: "sha256:bb"}}}
			a2 := &Attestation{ID: "a2", Bundle: []byte(`{"n":2}`), PredicateType: "https://pipeguard.dev/secret-scan/v1", Signer: "k2", BuilderID: "b2", LogIndex: -1, Created: t0.Add(time.Hour),
				Subjects: []AttestationSubject{{Name: "app", Digest: "sha256:aa"}}}
			for _, a := range []*Attestation{a1, a2, a1} {
				if err := db.PutAttestation(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.PutAttestation(ctx, &Attestation{ID: "x"}); err == nil {
				t.Fatal("attestation without subjects stored")
			}
			for _, tc := range []struct {
				name string
				q    AttestationQuery
				want []string
			}{
				{"digest returns every bundle", AttestationQuery{Digest: "sha256:aa"}, []string{"a1", "a2"}},
				{"digest is case-insensitive", AttestationQuery{Digest: "SHA256:AA"}, []string{"a1", "a2"}},
				{"second subject", AttestationQuery{Digest: "sha256:bb"}, []string{"a1"}},
				{"unknown digest", AttestationQuery{Digest: "sha256:cc"}, nil},
				{"predicate type", AttestationQuery{Digest: "sha256:aa", PredicateType: "https://pipeguard.dev/secret-scan/v1"}, []string{"a2"}},
				{"signer", AttestationQuery{Signer: "k1"}, []string{"a1"}},
				{"builder", AttestationQuery{BuilderID: "b2"}, []string{"a2"}},
				{"since", AttestationQuery{Since: t0.Add(time.Minute)}, []string{"a2"}},
				{"until", AttestationQuery{Until: t0.Add(time.Minute)}, []string{"a1"}},
				{"limit", AttestationQuery{Digest: "sha256:aa", Limit: 1}, []string{"a1"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					got, err := db.FindAttestations(ctx, tc.q)
					if err != nil {
						t.Fatal(err)
					}
					var ids []string
					for _, a := range got {
						ids = append(ids, a.ID)
					}
					if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
						t.Fatalf("got %v, want %v", ids, tc.want)
					}
				})
			}
			got, err := db.FindAttestations(ctx, AttestationQuery{Signer: "k1"})
			if err != nil {
				t.Fatal(err)
			}
			a := got[0]
			if string(a.Bundle) != `{"n":1}` || a.LogIndex != 7 || !a.Created.Equal(t0) || len(a.Subjects) != 2 || a.Subjects[0].Digest != "sha256:aa" {
				t.Fatalf("stored attestation came back changed: %+v", a)
			}
		})
	}
}
