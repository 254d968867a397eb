// Package honeytoken makes decoy credentials, keeps a registry of them in
// the store, turns their use into alerts and delivers those alerts to sinks
// through a durable queue. The attack-facing listeners live in the decoy
// subpackage; this package wires them to the registry.
package honeytoken

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"hash/crc32"
	"net"
	"net/url"
	"strings"
	"time"
)

// Type names a kind of honeytoken.
type Type string

// The token types pipeguard can make.
const (
	TypeURL        Type = "url"
	TypeDNS        Type = "dns"
	TypeAWS        Type = "aws"
	TypeGitHub     Type = "github"
	TypeNPM        Type = "npm"
	TypeDocker     Type = "docker"
	TypeKubeconfig Type = "kubeconfig"
	TypeEnvDB      Type = "env-db"
	TypeSlack      Type = "slack"
	TypeStripe     Type = "stripe"
)

// Types lists every supported type in a stable order.
var Types = []Type{TypeURL, TypeDNS, TypeAWS, TypeGitHub, TypeNPM, TypeDocker, TypeKubeconfig, TypeEnvDB, TypeSlack, TypeStripe}

// ParseType checks s against the supported types.
func ParseType(s string) (Type, error) {
	for _, t := range Types {
		if string(t) == s {
			return t, nil
		}
	}
	names := make([]string, len(Types))
	for i, t := range Types {
		names[i] = string(t)
	}
	return "", fmt.Errorf("unknown honeytoken type %q (want one of %s)", s, strings.Join(names, ", "))
}

// ExposureOnly reports whether no pipeguard decoy endpoint can observe the
// use of a token of type t: such tokens only alert when the secret scanner
// sights them somewhere they were not planted.
func (t Type) ExposureOnly() bool {
	return t == TypeGitHub || t == TypeSlack || t == TypeStripe
}

// Material is the credential content of a token. Which fields are set
// depends on the type. It is sealed at rest.
type Material struct {
	// Value is what a user plants: the credential, URL or hostname.
	Value string `json:"value"`

	URL         string `json:"url,omitempty"`           // url: the web bug
	Label       string `json:"label,omitempty"`         // url, dns: the random part that identifies it
	Hostname    string `json:"hostname,omitempty"`      // dns
	AccessKeyID string `json:"access_key_id,omitempty"` // aws
	SecretKey   string `json:"secret_access_key,omitempty"`
	Region      string `json:"region,omitempty"`
	Endpoint    string `json:"endpoint,omitempty"` // aws endpoint_url, npm/docker registry, kube server
	Username    string `json:"username,omitempty"` // docker, env-db
	Password    string `json:"password,omitempty"` // docker, env-db
	DBAddr      string `json:"db_addr,omitempty"`  // env-db host:port
	DBName      string `json:"db_name,omitempty"`
	Cluster     string `json:"cluster,omitempty"` // kubeconfig
	CAData      string `json:"ca_data,omitempty"` // kubeconfig: the decoy CA, base64 PEM
	CloudUser   string `json:"cloud_user,omitempty"`
}

// Secrets returns every string whose sighting or use identifies the token.
// Each is registered in the shared fingerprint index.
func (m *Material) Secrets() []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	add(m.Value)
	add(m.URL)
	add(m.Label)
	add(m.Hostname)
	add(m.AccessKeyID)
	add(m.SecretKey)
	add(m.Password)
	if m.Username != "" && m.Password != "" && m.DBAddr == "" {
		add(basicAuth(m.Username, m.Password))
	}
	if strings.HasPrefix(m.Value, "npm_") {
		// Scanners that match the .npmrc line report key and value as
		// one secret.
		add("_authToken=" + m.Value)
	}
	return out
}

// Token is a registered honeytoken.
type Token struct {
	ID       string     `json:"id"`
	Type     Type       `json:"type"`
	Note     string     `json:"note"`
	Created  time.Time  `json:"created"`
	Revoked  *time.Time `json:"revoked,omitempty"`
	Planted  []string   `json:"planted,omitempty"`
	Material Material   `json:"-"`
}

// CreateOptions say how to make a token.
type CreateOptions struct {
	Type Type
	Note string
	// BaseURL is the public address of the HTTP decoys (web bug, registry,
	// npm, kube API, AWS endpoint).
	BaseURL string
	// Zone is the DNS zone served by the DNS decoy (dns tokens).
	Zone string
	// DBAddr is the host:port of the database decoy (env-db tokens).
	DBAddr string
	// AWSAccessKeyID, AWSSecretKey and AWSUser register a real key made in
	// a dedicated AWS account instead of generating one; its use is then
	// found by ingesting CloudTrail.
	AWSAccessKeyID string
	AWSSecretKey   string
	AWSUser        string
}

// Crockford-free lowercase base32 keeps ids and DNS labels readable and
// case-insensitive.
var lowerB32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

const (
	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	awsIDAlphabet  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	awsKeyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	alnumAlphabet  = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	lowerAlnum     = "abcdefghijklmnopqrstuvwxyz0123456789"
	digits         = "0123456789"
)

// NewID returns an unguessable token id (128 random bits).
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "ht_" + lowerB32.EncodeToString(b)
}

// randString draws n characters uniformly from alphabet.
func randString(alphabet string, n int) string {
	// Rejection sampling keeps every character equally likely.
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+16)
	for len(out) < n {
		rand.Read(buf)
		for _, c := range buf {
			if int(c) < limit {
				out = append(out, alphabet[int(c)%len(alphabet)])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out)
}

// randLabel is a DNS-safe random label with 130 bits of entropy.
func randLabel() string {
	b := make([]byte, 17)
	rand.Read(b)
	return lowerB32.EncodeToString(b)[:26]
}

// base62Checksum encodes the CRC32 of s in six base62 digits, the
// checksum GitHub and npm append to their tokens.
func base62Checksum(s string) string {
	n := crc32.ChecksumIEEE([]byte(s))
	var b [6]byte
	for i := 5; i >= 0; i-- {
		b[i] = base62Alphabet[n%62]
		n /= 62
	}
	return string(b[:])
}

// checksummedToken is prefix + 30 random base62 + 6 checksum digits.
func checksummedToken(prefix string) string {
	body := randString(base62Alphabet, 30)
	return prefix + body + base62Checksum(body)
}

// ValidChecksum reports whether a ghp_/npm_ style token carries a valid
// CRC32 base62 checksum.
func ValidChecksum(tok string) bool {
	i := strings.IndexByte(tok, '_')
	if i < 0 || len(tok)-i-1 != 36 {
		return false
	}
	body := tok[i+1:]
	return base62Checksum(body[:30]) == body[30:]
}

func basicAuth(user, pass string) string {
	return encodeStd([]byte(user + ":" + pass))
}

// generate fills in the material for a new token.
func generate(o CreateOptions, caPEM []byte) (Material, error) {
	var m Material
	needBase := func() (*url.URL, error) {
		if o.BaseURL == "" {
			return nil, fmt.Errorf("--base-url is required for %s tokens: the public address of `honeytoken serve --http`", o.Type)
		}
		u, err := url.Parse(o.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("base URL %q must be an http(s) URL with a host and nothing after the path", o.BaseURL)
		}
		u.Path = strings.TrimRight(u.Path, "/")
		return u, nil
	}
	switch o.Type {
	case TypeURL:
		u, err := needBase()
		if err != nil {
			return m, err
		}
		m.Label = randLabel()
		m.URL = u.String() + "/static/" + m.Label + ".gif"
		m.Value = m.URL
	case TypeDNS:
		zone := strings.TrimSuffix(strings.ToLower(o.Zone), ".")
		if zone == "" {
			return m, fmt.Errorf("--zone is required for dns tokens: the zone served by `honeytoken serve --dns`")
		}
		if err := checkZone(zone); err != nil {
			return m, err
		}
		m.Label = randLabel()
		m.Hostname = m.Label + "." + zone
		m.Value = m.Hostname
	case TypeAWS:
		m.Region = "us-east-1"
		if o.AWSAccessKeyID != "" || o.AWSUser != "" {
			m.AccessKeyID, m.SecretKey, m.CloudUser = o.AWSAccessKeyID, o.AWSSecretKey, o.AWSUser
		} else {
			m.AccessKeyID = "AKIA" + randString(awsIDAlphabet, 16)
			m.SecretKey = randString(awsKeyAlphabet, 40)
		}
		if o.BaseURL != "" {
			u, err := needBase()
			if err != nil {
				return m, err
			}
			m.Endpoint = u.String()
		}
		m.Value = m.AccessKeyID
	case TypeGitHub:
		m.Value = checksummedToken("ghp_")
	case TypeNPM:
		u, err := needBase()
		if err != nil {
			return m, err
		}
		m.Endpoint = u.String() + "/"
		m.Value = checksummedToken("npm_")
	case TypeDocker:
		u, err := needBase()
		if err != nil {
			return m, err
		}
		m.Endpoint = u.Host
		m.Username = "ci-" + randString(lowerAlnum, 6)
		m.Password = "dckr_pat_" + randString(base62Alphabet+"-_", 27)
		m.Value = m.Password
	case TypeKubeconfig:
		u, err := needBase()
		if err != nil {
			return m, err
		}
		// kubectl only sends credentials over TLS; the HTTP decoy port
		// also speaks TLS.
		u.Scheme = "https"
		m.Endpoint = u.String()
		m.Cluster = "prod-" + randString(lowerAlnum, 5)
		if caPEM != nil {
			m.CAData = encodeStd(caPEM)
		}
		m.Value = kubeToken(m.Cluster)
	case TypeEnvDB:
		addr := o.DBAddr
		if addr == "" {
			if o.BaseURL == "" {
				return m, fmt.Errorf("--db-addr (or --base-url) is required for env-db tokens: the address of `honeytoken serve --db`")
			}
			u, err := needBase()
			if err != nil {
				return m, err
			}
			addr = net.JoinHostPort(u.Hostname(), "5432")
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return m, fmt.Errorf("database address %q: %w", addr, err)
		}
		m.DBAddr = addr
		m.Username = "app_" + randString("abcdefghijklmnopqrstuvwxyz", 5)
		m.Password = randString(alnumAlphabet, 24)
		m.DBName = "orders_prod"
		m.Value = (&url.URL{Scheme: "postgres", User: url.UserPassword(m.Username, m.Password), Host: addr, Path: "/" + m.DBName}).String()
	case TypeSlack:
		m.Value = "xoxb-" + randString(digits[1:], 1) + randString(digits, 11) + "-" + randString(digits[1:], 1) + randString(digits, 12) + "-" + randString(alnumAlphabet, 24)
	case TypeStripe:
		m.Value = "sk_live_51" + randString(alnumAlphabet, 97)
	default:
		return m, fmt.Errorf("unknown honeytoken type %q", o.Type)
	}
	return m, nil
}

// kubeToken makes a bearer token shaped like a service account JWT. Its
// signature is random: no API server will ever accept it.
func kubeToken(cluster string) string {
	now := time.Now().Unix()
	header := `{"alg":"RS256","kid":"` + randString(base62Alphabet+"-_", 43) + `"}`
	claims := fmt.Sprintf(`{"aud":["https://kubernetes.default.svc.cluster.local"],"exp":%d,"iat":%d,"iss":"https://kubernetes.default.svc.cluster.local","kubernetes.io":{"namespace":"kube-system","serviceaccount":{"name":"deploy-bot","uid":"%s"}},"nbf":%d,"sub":"system:serviceaccount:kube-system:deploy-bot"}`,
		now+365*24*3600, now, uuidLike(), now)
	sig := make([]byte, 256)
	rand.Read(sig)
	return encodeRawURL([]byte(header)) + "." + encodeRawURL([]byte(claims)) + "." + encodeRawURL(sig)
}

func uuidLike() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// checkZone accepts a plain DNS name: labels of letters, digits and
// hyphens.
func checkZone(zone string) error {
	if len(zone) > 200 {
		return fmt.Errorf("zone %q is too long", zone)
	}
	for _, l := range strings.Split(zone, ".") {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("zone %q has an empty or too long label", zone)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("zone %q: label %q has a character other than a-z, 0-9 or -", zone, l)
			}
		}
	}
	return nil
}
