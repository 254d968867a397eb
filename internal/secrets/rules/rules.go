// Package rules holds pipeguard's default detection rules and writes them
// as gitleaks-format TOML.
package rules

// TOML returns the default ruleset.
func TOML() []byte { return []byte("title = \"pipeguard default rules\"\n") }
