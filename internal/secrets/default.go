package secrets

import (
	"fmt"
	"sync"

	"github.com/pipeguard/pipeguard/internal/secrets/rules"
)

var (
	defaultOnce sync.Once
	defaultTOML []byte
)

// DefaultConfigTOML returns pipeguard's own default ruleset in
// gitleaks-format TOML, so it can be exported, reviewed and extended.
func DefaultConfigTOML() []byte {
	defaultOnce.Do(func() { defaultTOML = rules.TOML() })
	return defaultTOML
}

// DefaultConfig compiles pipeguard's default ruleset.
func DefaultConfig() (*Config, error) {
	c, err := ParseConfig(DefaultConfigTOML(), "")
	if err != nil {
		return nil, fmt.Errorf("default ruleset: %w", err)
	}
	return c, nil
}
