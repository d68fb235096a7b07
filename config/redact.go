package config

import (
	"encoding/json"
)

// redactedSecret stands for a secret that is set.
const redactedSecret = "(set)"

// Redacted returns the settings by JSON name with every secret replaced by "(set)" (or
// "" when unset) and passwords removed from URLs, for printing.
func (c *Config) Redacted() map[string]any {
	return map[string]any{
		"listen":                 c.Listen,
		keyPublicURL:             urlString(c.PublicURL),
		"docs_url":               urlString(c.Docs.URL),
		keyDocsPublicURL:         urlString(c.Docs.PublicURL),
		"docs_jwt_secret":        redact(c.Docs.JWTSecret),
		"docs_jwt_header":        c.Docs.JWTHeader,
		"docs_jwt_outbox_secret": redact(c.Docs.JWTOutboxSecret),
		"launch_secret":          redact(c.LaunchSecret),
		"storage":                c.Storage.String(),
		keyState:                 c.State.redacted(),
		"secret":                 redact(c.Secret),
		keyProof:                 string(c.Proof),
		"token_ttl":              c.TokenTTL.String(),
		"ipfilter":               c.IPFilter.String(),
		"log_level":              c.Log.Level,
		"log_format":             c.Log.Format,
		"max_file_size":          FormatSize(c.MaxFileSize),
		"shutdown_timeout":       c.ShutdownTimeout.String(),
	}
}

// String is the redacted configuration as JSON, so printing a Config (or a pointer to
// one) never shows a secret.
func (c Config) String() string {
	b, err := json.MarshalIndent(c.Redacted(), "", "  ")
	if err != nil {
		return "config: " + err.Error()
	}
	return string(b)
}

// GoString is String, so that %#v does not print secrets either.
func (c Config) GoString() string { return c.String() }

// MarshalJSON encodes the redacted configuration.
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(c.Redacted()) }

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return redactedSecret
}
