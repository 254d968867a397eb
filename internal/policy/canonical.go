package policy

import (
	"fmt"
	"path"
	"strings"
)

// CanonicalURI reduces a source URI or builder id to the one form
// pipeguard compares, and splits off an @REF suffix:
//
//	git+https://github.com/Acme/app.git@refs/heads/main -> github.com/Acme/app, refs/heads/main
//	https://github.com/acme/app/                        -> github.com/acme/app, ""
//	git@github.com:acme/app.git                         -> github.com/acme/app, ""
//
// The "git+" prefix, the scheme, user info, a trailing ".git" and trailing
// slashes are dropped and the host is lowercased; the path keeps its case.
// Nothing else is forgiven: comparison of canonical forms is exact, so
// github.com/acme/app never matches github.com/acme/appX or
// evil.com/github.com/acme/app.
func CanonicalURI(s string) (uri, ref string) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "git+")
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	} else if at, colon := strings.Index(s, "@"), strings.Index(s, ":"); at >= 0 && colon > at && !strings.Contains(s[:colon], "/") {
		// scp-like git@host:path
		s = s[at+1:colon] + "/" + s[colon+1:]
	}
	// User info before the host.
	if slash := strings.Index(s, "/"); slash > 0 {
		if at := strings.LastIndex(s[:slash], "@"); at >= 0 {
			s = s[at+1:]
		}
	}
	// The ref suffix follows the last '@' in the path.
	if slash := strings.Index(s, "/"); slash >= 0 {
		if at := strings.LastIndex(s[slash:], "@"); at >= 0 {
			ref = s[slash+at+1:]
			s = s[:slash+at]
		}
	}
	host, rest, _ := strings.Cut(s, "/")
	host = strings.ToLower(host)
	rest = strings.TrimRight(rest, "/")
	rest = strings.TrimSuffix(rest, ".git")
	if rest == "" {
		return host, ref
	}
	return host + "/" + rest, ref
}

// RefMatches reports whether ref (as found in an attestation) matches the
// pattern. A pattern without "refs/" also matches the same name under
// refs/heads/ and refs/tags/, so "v2.1.0" matches "refs/tags/v2.1.0".
func RefMatches(pattern, ref string) bool {
	if ref == "" {
		return false
	}
	cands := []string{pattern}
	if !strings.HasPrefix(pattern, "refs/") {
		cands = append(cands, "refs/heads/"+pattern, "refs/tags/"+pattern)
	}
	for _, c := range cands {
		if ok, err := path.Match(c, ref); err == nil && ok {
			return true
		}
	}
	return false
}

// MatchID reports whether a claimed id (a builder or verifier id from an
// attestation) names this signer: the canonical URIs must be equal, and an
// @REF suffix on the claim is allowed only when the signer's id pins that
// ref or its Refs allow it.
func (s *Signer) MatchID(claimed string) bool {
	want, wantRef := CanonicalURI(s.ID)
	got, gotRef := CanonicalURI(claimed)
	if want != got {
		return false
	}
	switch {
	case gotRef == "":
		return wantRef == ""
	case wantRef != "":
		return RefMatches(wantRef, gotRef)
	default:
		for _, r := range s.Refs {
			if RefMatches(r, gotRef) {
				return true
			}
		}
		return false
	}
}

func checkGlob(p string) error {
	if p == "" {
		return fmt.Errorf("empty ref pattern")
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("bad ref pattern %q: %w", p, err)
	}
	return nil
}

// Level returns the signer's trusted SLSA build level (1 when unset).
func (s *Signer) Level() int {
	if s.SLSABuildLevel == 0 {
		return 1
	}
	return s.SLSABuildLevel
}
