package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// env turns a map into a getenv function.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// problems splits a joined error into its messages.
func problems(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		out = append(out, err.Error())
	}
	walk(err)
	return out
}

func TestDefault(t *testing.T) {
	want := map[string]any{
		"listen":                 "127.0.0.1:8080",
		"public_url":             "http://127.0.0.1:8080",
		"docs_url":               "",
		"docs_public_url":        "",
		"docs_jwt_secret":        "",
		"docs_jwt_header":        "Authorization",
		"docs_jwt_outbox_secret": "",
		"launch_secret":          "",
		"storage":                "fs:./data",
		"state":                  "bolt:data/wopibridge.db",
		"secret":                 "",
		"proof":                  "off",
		"token_ttl":              "10h0m0s",
		"ipfilter":               "",
		"log_level":              "info",
		"log_format":             "text",
		"max_file_size":          "1GiB",
		"shutdown_timeout":       "30s",
	}
	def := Default()
	if got := def.Redacted(); !reflect.DeepEqual(got, want) {
		t.Errorf("Default().Redacted() = %v, want %v", got, want)
	}
	if err := def.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v, want nil", err)
	}
	if !def.DemoMode() || !def.PublicURLDerived() {
		t.Errorf("Default(): DemoMode %v, PublicURLDerived %v, want both true", def.DemoMode(), def.PublicURLDerived())
	}
	if def.TokenTTL != 10*time.Hour || def.MaxFileSize != 1<<30 || def.ShutdownTimeout != 30*time.Second {
		t.Errorf("Default(): TokenTTL %v, MaxFileSize %d, ShutdownTimeout %v", def.TokenTTL, def.MaxFileSize, def.ShutdownTimeout)
	}

	loaded, err := Load(nil, env(nil))
	if err != nil {
		t.Fatalf("Load with nothing set: %v", err)
	}
	if got := loaded.Redacted(); !reflect.DeepEqual(got, want) {
		t.Errorf("Load with nothing set = %v, want %v", got, want)
	}
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want map[string]any // a subset of Redacted
	}{
		{
			name: "file",
			args: []string{"--config", "testdata/layers.json"},
			want: map[string]any{"listen": "127.0.0.1:7001", "log_level": "debug", "token_ttl": "1h0m0s",
				"max_file_size": "1MiB", "ipfilter": "10.0.*=allow,*=deny", "storage": "fs:/srv/docs",
				"state": "bolt:/srv/docs/wopibridge.db", "log_format": "text"},
		},
		{
			name: "file from WOPIBRIDGE_CONFIG",
			env:  map[string]string{"WOPIBRIDGE_CONFIG": "testdata/layers.json"},
			want: map[string]any{"listen": "127.0.0.1:7001", "log_level": "debug"},
		},
		{
			name: "env over file",
			env: map[string]string{"WOPIBRIDGE_CONFIG": "testdata/layers.json",
				"WOPIBRIDGE_LISTEN": "127.0.0.1:7002", "WOPIBRIDGE_MAX_FILE_SIZE": "512MB"},
			want: map[string]any{"listen": "127.0.0.1:7002", "log_level": "debug", "max_file_size": "500000KiB",
				"public_url": "http://127.0.0.1:7002"},
		},
		{
			name: "flags over env over file",
			env: map[string]string{"WOPIBRIDGE_CONFIG": "testdata/layers.json",
				"WOPIBRIDGE_LISTEN": "127.0.0.1:7002", "WOPIBRIDGE_LOG_LEVEL": "warn"},
			args: []string{"--listen=127.0.0.1:7003", "-token-ttl", "2h"},
			want: map[string]any{"listen": "127.0.0.1:7003", "log_level": "warn", "token_ttl": "2h0m0s",
				"max_file_size": "1MiB"},
		},
		{
			name: "--config over WOPIBRIDGE_CONFIG",
			env:  map[string]string{"WOPIBRIDGE_CONFIG": "testdata/missing.json"},
			args: []string{"--config=testdata/layers.json"},
			want: map[string]any{"listen": "127.0.0.1:7001"},
		},
		{
			name: "empty flag clears a list",
			env:  map[string]string{"WOPIBRIDGE_IPFILTER": "10.*=allow"},
			args: []string{"--ipfilter="},
			want: map[string]any{"ipfilter": ""},
		},
		{
			name: "empty flag brings back a derived default",
			env:  map[string]string{"WOPIBRIDGE_PUBLIC_URL": "https://bridge.example.com"},
			args: []string{"--public-url="},
			want: map[string]any{"public_url": "http://127.0.0.1:8080"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got := c.Redacted()
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s = %q, want %q", k, got[k], want)
				}
			}
		})
	}
}

func TestSecretFiles(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    func(*Config) string
		wantVal string
		wantErr []string // substrings of the one error
	}{
		{
			name:    "env _FILE, newline trimmed",
			env:     map[string]string{"WOPIBRIDGE_LAUNCH_SECRET_FILE": "testdata/secret.txt"},
			want:    func(c *Config) string { return c.LaunchSecret },
			wantVal: "file-secret",
		},
		{
			name:    "flag _FILE",
			args:    []string{"--docs-jwt-secret-file=testdata/secret.txt"},
			want:    func(c *Config) string { return c.Docs.JWTSecret },
			wantVal: "file-secret",
		},
		{
			name:    "outbox secret _FILE",
			env:     map[string]string{"WOPIBRIDGE_DOCS_JWT_SECRET": "inbox", "WOPIBRIDGE_DOCS_JWT_OUTBOX_SECRET_FILE": "testdata/secret.txt"},
			want:    func(c *Config) string { return c.Docs.JWTSecret + "|" + c.Docs.OutboxSecret() },
			wantVal: "inbox|file-secret",
		},
		{
			name:    "outbox secret defaults to the secret",
			env:     map[string]string{"WOPIBRIDGE_DOCS_JWT_SECRET": "one secret"},
			want:    func(c *Config) string { return c.Docs.JWTOutboxSecret + "|" + c.Docs.OutboxSecret() },
			wantVal: "|one secret",
		},
		{
			name:    "outbox secret without the inbox secret",
			env:     map[string]string{"WOPIBRIDGE_DOCS_JWT_OUTBOX_SECRET": "outbox"},
			wantErr: []string{"WOPIBRIDGE_DOCS_JWT_OUTBOX_SECRET", "WOPIBRIDGE_DOCS_JWT_SECRET is empty"},
		},
		{
			name:    "config file _file field",
			args:    []string{"--config=testdata/secrets.json"},
			want:    func(c *Config) string { return c.LaunchSecret + "|" + c.Secret },
			wantVal: "file-secret|from-json",
		},
		{
			name:    "env value over file _FILE",
			env:     map[string]string{"WOPIBRIDGE_LAUNCH_SECRET": "from-env"},
			args:    []string{"--config=testdata/secrets.json"},
			want:    func(c *Config) string { return c.LaunchSecret },
			wantVal: "from-env",
		},
		{
			name:    "flag _FILE over env value",
			env:     map[string]string{"WOPIBRIDGE_SECRET": "from-env"},
			args:    []string{"--secret-file", "testdata/secret.txt"},
			want:    func(c *Config) string { return c.Secret },
			wantVal: "file-secret",
		},
		{
			name:    "both in env",
			env:     map[string]string{"WOPIBRIDGE_SECRET": "x", "WOPIBRIDGE_SECRET_FILE": "testdata/secret.txt"},
			wantErr: []string{"WOPIBRIDGE_SECRET and WOPIBRIDGE_SECRET_FILE are both set"},
		},
		{
			name:    "both as flags",
			args:    []string{"--docs-jwt-secret=x", "--docs-jwt-secret-file=testdata/secret.txt"},
			wantErr: []string{"WOPIBRIDGE_DOCS_JWT_SECRET (--docs-jwt-secret) and WOPIBRIDGE_DOCS_JWT_SECRET_FILE (--docs-jwt-secret-file) are both set"},
		},
		{
			name:    "missing file",
			env:     map[string]string{"WOPIBRIDGE_LAUNCH_SECRET_FILE": "testdata/nope.txt"},
			wantErr: []string{"WOPIBRIDGE_LAUNCH_SECRET_FILE: cannot read the secret", "nope.txt"},
		},
		{
			name:    "empty file",
			env:     map[string]string{"WOPIBRIDGE_LAUNCH_SECRET_FILE": "testdata/empty-secret.txt"},
			wantErr: []string{"WOPIBRIDGE_LAUNCH_SECRET_FILE: testdata/empty-secret.txt is empty"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, env(tt.env))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("Load: no error, want one containing %q", tt.wantErr)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("Load error %q does not contain %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := tt.want(c); got != tt.wantVal {
				t.Errorf("secret = %q, want %q", got, tt.wantVal)
			}
		})
	}
}

func TestConfigFileErrors(t *testing.T) {
	_, err := Load([]string{"--config", "testdata/unknown.json"}, env(nil))
	got := problems(err)
	want := []string{
		`config file testdata/unknown.json (--config): unknown field "colour" (known fields are the setting names in lower case, e.g. "listen", "docs_url", "storage")`,
		`config file testdata/unknown.json (--config): unknown field "publicUrl" (did you mean "public_url"?)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems = %q, want %q", got, want)
	}

	_, err = Load(nil, env(map[string]string{"WOPIBRIDGE_CONFIG": "testdata/missing.json"}))
	if err == nil || !strings.HasPrefix(err.Error(), "config file testdata/missing.json (WOPIBRIDGE_CONFIG): cannot read it") {
		t.Errorf("missing file: error %v", err)
	}
}

func TestParseFile(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    map[string]string
		wantErr string
	}{
		{name: "strings", json: `{"listen": "a:1", "docs_url": "http://ds"}`, want: map[string]string{"listen": "a:1", "docs_url": "http://ds"}},
		{name: "size as number", json: `{"max_file_size": 1024}`, want: map[string]string{"max_file_size": "1024"}},
		{name: "ipfilter as list", json: `{"ipfilter": ["a=allow", "*=deny"]}`, want: map[string]string{"ipfilter": "a=allow,*=deny"}},
		{name: "number where a string goes", json: `{"listen": 8080}`, want: map[string]string{}, wantErr: `field "listen": want a string`},
		{name: "syntax error", json: "{\n  \"listen\": \"a\",\n}", wantErr: "invalid JSON at line 3, column 1"},
		{name: "not an object", json: `["listen"]`, wantErr: "want a JSON object of settings"},
		{name: "null", json: `null`, wantErr: "want a JSON object of settings"},
		{name: "empty", json: ``, wantErr: "empty file"},
		{name: "two objects", json: `{} {}`, wantErr: "extra data after the JSON object"},
		{name: "env name as field", json: `{"WOPIBRIDGE_LISTEN": "a:1"}`, want: map[string]string{}, wantErr: `(did you mean "listen"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := parseFile([]byte(tt.json))
			err := errors.Join(errs...)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("values = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	_, err := Load([]string{"--no-such-flag"}, env(nil))
	if err == nil || !strings.Contains(err.Error(), "no-such-flag") {
		t.Errorf("unknown flag: error %v", err)
	}
	_, err = Load([]string{"serve"}, env(nil))
	if err == nil || !strings.Contains(err.Error(), `unexpected argument "serve"`) {
		t.Errorf("positional argument: error %v", err)
	}
	_, err = Load([]string{"-h"}, env(nil))
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: error %v, want flag.ErrHelp", err)
	}

	// The caller's own flags live next to the configuration's.
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	printConfig := fs.Bool("print-config", false, "print the configuration")
	c, err := LoadFlags(fs, []string{"--print-config", "--log-format=json", "rest"}, nil)
	if err != nil {
		t.Fatalf("LoadFlags: %v", err)
	}
	if !*printConfig || c.Log.Format != "json" || !reflect.DeepEqual(fs.Args(), []string{"rest"}) {
		t.Errorf("LoadFlags: print-config %v, log format %q, args %q", *printConfig, c.Log.Format, fs.Args())
	}

	// Every setting has a flag, named after its JSON name.
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	for _, s := range settings {
		if fs.Lookup(s.flag()) == nil {
			t.Errorf("no flag --%s among %q", s.flag(), names)
		}
		if s.secret && fs.Lookup(s.flag()+"-file") == nil {
			t.Errorf("no flag --%s-file", s.flag())
		}
	}
}

func TestDerived(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		want        map[string]any
		wantDerived bool
	}{
		{
			name:        "state inside the fs directory",
			env:         map[string]string{"WOPIBRIDGE_STORAGE": "fs:/var/lib/docs"},
			want:        map[string]any{"state": "bolt:/var/lib/docs/wopibridge.db"},
			wantDerived: true,
		},
		{
			name:        "state in the working directory for wopi storage",
			env:         map[string]string{"WOPIBRIDGE_STORAGE": "wopi:https://wopi.example.com"},
			want:        map[string]any{"state": "bolt:wopibridge.db", "storage": "wopi:https://wopi.example.com"},
			wantDerived: true,
		},
		{
			name:        "explicit state kept",
			env:         map[string]string{"WOPIBRIDGE_STORAGE": "fs:/x", "WOPIBRIDGE_STATE": "redis://redis:6379/2"},
			want:        map[string]any{"state": "redis://redis:6379/2"},
			wantDerived: true,
		},
		{
			name:        "DS public URL, proof and JWT header from DOCS_URL",
			env:         map[string]string{"WOPIBRIDGE_DOCS_URL": "http://ds:8000/", "WOPIBRIDGE_DOCS_JWT_SECRET": "s"},
			want:        map[string]any{"docs_url": "http://ds:8000", "docs_public_url": "http://ds:8000", "proof": "require", "docs_jwt_header": "Authorization"},
			wantDerived: true,
		},
		{
			name: "explicit DS public URL and proof",
			env: map[string]string{"WOPIBRIDGE_DOCS_URL": "http://ds:8000", "WOPIBRIDGE_DOCS_PUBLIC_URL": "https://docs.example.com/office/",
				"WOPIBRIDGE_PROOF": "OFF"},
			want:        map[string]any{"docs_public_url": "https://docs.example.com/office", "proof": "off"},
			wantDerived: true,
		},
		{
			name:        "public URL from the listen address",
			env:         map[string]string{"WOPIBRIDGE_LISTEN": "[::1]:9000"},
			want:        map[string]any{"public_url": "http://[::1]:9000"},
			wantDerived: true,
		},
		{
			name:        "explicit public URL, trailing slash trimmed",
			env:         map[string]string{"WOPIBRIDGE_PUBLIC_URL": "https://example.com/bridge/"},
			want:        map[string]any{"public_url": "https://example.com/bridge"},
			wantDerived: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(nil, env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got := c.Redacted()
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s = %q, want %q", k, got[k], want)
				}
			}
			if c.PublicURLDerived() != tt.wantDerived {
				t.Errorf("PublicURLDerived() = %v, want %v", c.PublicURLDerived(), tt.wantDerived)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // the one problem
	}{
		{"listen not host:port", map[string]string{"WOPIBRIDGE_LISTEN": "8080"},
			`WOPIBRIDGE_LISTEN: "8080" is not host:port (use e.g. 127.0.0.1:8080, or :8080 for every interface)`},
		{"listen port", map[string]string{"WOPIBRIDGE_LISTEN": "127.0.0.1:http", "WOPIBRIDGE_PUBLIC_URL": "http://127.0.0.1"},
			`WOPIBRIDGE_LISTEN: "127.0.0.1:http": port "http" is not a number from 0 to 65535`},
		{"public URL not absolute", map[string]string{"WOPIBRIDGE_PUBLIC_URL": "bridge.example.com"},
			`WOPIBRIDGE_PUBLIC_URL: "bridge.example.com" is not an absolute http:// or https:// URL (use an absolute URL such as https://host.example.com[/path])`},
		{"public URL with query", map[string]string{"WOPIBRIDGE_PUBLIC_URL": "https://b.example.com/?x=1"},
			`WOPIBRIDGE_PUBLIC_URL: "https://b.example.com?x=1" must not contain a query or fragment (use an absolute URL such as https://host.example.com[/path])`},
		{"public URL with fragment", map[string]string{"WOPIBRIDGE_PUBLIC_URL": "https://b.example.com#top"},
			`WOPIBRIDGE_PUBLIC_URL: "https://b.example.com#top" must not contain a query or fragment (use an absolute URL such as https://host.example.com[/path])`},
		{"public URL with password", map[string]string{"WOPIBRIDGE_PUBLIC_URL": "https://u:pw@b.example.com"},
			`WOPIBRIDGE_PUBLIC_URL: "https://u:xxxxx@b.example.com" must not contain a user or password (use an absolute URL such as https://host.example.com[/path])`},
		{"derived public URL without host", map[string]string{"WOPIBRIDGE_LISTEN": ":8080", "WOPIBRIDGE_LAUNCH_SECRET": "l"},
			`WOPIBRIDGE_PUBLIC_URL: not set, and the URL derived from WOPIBRIDGE_LISTEN is unusable: "http://:8080": no host (set WOPIBRIDGE_PUBLIC_URL to the URL DS and browsers reach the bridge at)`},
		{"docs URL scheme", map[string]string{"WOPIBRIDGE_DOCS_URL": "ftp://ds", "WOPIBRIDGE_PROOF": "off"},
			`WOPIBRIDGE_DOCS_URL: "ftp://ds" is not an absolute http:// or https:// URL (use an absolute URL such as https://host.example.com[/path])`},
		{"docs public URL", map[string]string{"WOPIBRIDGE_DOCS_URL": "http://ds", "WOPIBRIDGE_DOCS_PUBLIC_URL": "http:///office"},
			`WOPIBRIDGE_DOCS_PUBLIC_URL: "http:///office": no host (use an absolute URL such as https://host.example.com[/path])`},
		{"docs URL unparsable", map[string]string{"WOPIBRIDGE_DOCS_URL": "http://ds:port"},
			`WOPIBRIDGE_DOCS_URL: invalid port ":port" after host (use an absolute URL such as https://host.example.com[/path])`},
		{"JWT header", map[string]string{"WOPIBRIDGE_DOCS_JWT_HEADER": "Auth: x"},
			`WOPIBRIDGE_DOCS_JWT_HEADER: "Auth: x" is not a header name (use Authorization, the DS default, or the name set in DS's services.CoAuthoring.token.inbox.header)`},
		{"storage scheme", map[string]string{"WOPIBRIDGE_STORAGE": "s3:bucket"},
			`WOPIBRIDGE_STORAGE: unknown scheme "s3" (use fs:<dir> or wopi:<origin>[,<origin>...])`},
		{"storage without scheme", map[string]string{"WOPIBRIDGE_STORAGE": "/srv/docs"},
			`WOPIBRIDGE_STORAGE: "/srv/docs" has no scheme (use fs:<dir> or wopi:<origin>[,<origin>...])`},
		{"fs without dir", map[string]string{"WOPIBRIDGE_STORAGE": "fs:"},
			`WOPIBRIDGE_STORAGE: fs: needs a directory (use fs:<dir>, e.g. fs:./data)`},
		{"wopi without origin", map[string]string{"WOPIBRIDGE_STORAGE": "wopi: , "},
			`WOPIBRIDGE_STORAGE: wopi: needs at least one upstream origin (use wopi:https://wopi.example.com[,<origin>...])`},
		{"wopi origin with path", map[string]string{"WOPIBRIDGE_STORAGE": "wopi:https://wopi.example.com/wopi/files"},
			`WOPIBRIDGE_STORAGE: origin "https://wopi.example.com/wopi/files": only scheme://host[:port] is allowed, without user, path, query or fragment`},
		{"wopi origin scheme", map[string]string{"WOPIBRIDGE_STORAGE": "wopi:wopi.example.com"},
			`WOPIBRIDGE_STORAGE: origin "wopi.example.com": want http:// or https:// (use scheme://host[:port])`},
		{"state scheme", map[string]string{"WOPIBRIDGE_STATE": "etcd://x"},
			`WOPIBRIDGE_STATE: unknown scheme "etcd" (use bolt:<file>, redis://host:port/db, redis-sentinel://host:port,host:port/db?master=name or redis-cluster://host:port,host:port)`},
		{"bolt without file", map[string]string{"WOPIBRIDGE_STATE": "bolt:"},
			`WOPIBRIDGE_STATE: bolt: needs a file (use bolt:<file>, e.g. bolt:/var/lib/wopibridge/wopibridge.db)`},
		{"redis without host", map[string]string{"WOPIBRIDGE_STATE": "redis:///0"},
			`WOPIBRIDGE_STATE: "redis:///0": no host (use bolt:<file>, redis://host:port/db, redis-sentinel://host:port,host:port/db?master=name or redis-cluster://host:port,host:port)`},
		{"redis db", map[string]string{"WOPIBRIDGE_STATE": "redis://u:pw@redis:6379/one"},
			`WOPIBRIDGE_STATE: "redis://u:xxxxx@redis:6379/one": database "one" is not a number (use bolt:<file>, redis://host:port/db, redis-sentinel://host:port,host:port/db?master=name or redis-cluster://host:port,host:port)`},
		{"proof require without DS", map[string]string{"WOPIBRIDGE_PROOF": "require"},
			`WOPIBRIDGE_PROOF: require needs WOPIBRIDGE_DOCS_URL, where the proof keys are read from discovery (set WOPIBRIDGE_DOCS_URL, or set WOPIBRIDGE_PROOF=off)`},
		{"proof value", map[string]string{"WOPIBRIDGE_PROOF": "yes"},
			`WOPIBRIDGE_PROOF: "yes" is neither require nor off (use require, or off to skip proof-key checks)`},
		{"token TTL syntax", map[string]string{"WOPIBRIDGE_TOKEN_TTL": "10 hours"},
			`WOPIBRIDGE_TOKEN_TTL: "10 hours" is not a duration (use e.g. 10h, 90m or 30s)`},
		{"token TTL zero", map[string]string{"WOPIBRIDGE_TOKEN_TTL": "0s"},
			`WOPIBRIDGE_TOKEN_TTL: 0s is out of range (use a duration above 0 and at most 168h0m0s, e.g. 10h)`},
		{"token TTL too long", map[string]string{"WOPIBRIDGE_TOKEN_TTL": "169h"},
			`WOPIBRIDGE_TOKEN_TTL: 169h0m0s is out of range (use a duration above 0 and at most 168h0m0s, e.g. 10h)`},
		{"ipfilter without action", map[string]string{"WOPIBRIDGE_IPFILTER": "10.*=allow,10.1.2.3"},
			`WOPIBRIDGE_IPFILTER: rule 2 "10.1.2.3" has no =allow or =deny (use pattern=allow|deny[,...], e.g. 10.0.*=allow,*=deny)`},
		{"ipfilter action", map[string]string{"WOPIBRIDGE_IPFILTER": "10.*=permit"},
			`WOPIBRIDGE_IPFILTER: rule 1 "10.*=permit": action "permit" is neither allow nor deny (use pattern=allow|deny[,...], e.g. 10.0.*=allow,*=deny)`},
		{"ipfilter pattern", map[string]string{"WOPIBRIDGE_IPFILTER": "ds.local=allow"},
			`WOPIBRIDGE_IPFILTER: rule 1 "ds.local=allow": pattern "ds.local" may only hold an IP address, a CIDR prefix, or * wildcards (use pattern=allow|deny[,...], e.g. 10.0.*=allow,*=deny)`},
		{"ipfilter prefix", map[string]string{"WOPIBRIDGE_IPFILTER": "10.0.0.0/33=deny"},
			`WOPIBRIDGE_IPFILTER: rule 1 "10.0.0.0/33=deny": pattern "10.0.0.0/33" is not a CIDR prefix such as 10.0.0.0/8 (use pattern=allow|deny[,...], e.g. 10.0.*=allow,*=deny)`},
		{"log level", map[string]string{"WOPIBRIDGE_LOG_LEVEL": "verbose"},
			`WOPIBRIDGE_LOG_LEVEL: "verbose" is not a level (use panic, fatal, error, warn, info, debug or trace)`},
		{"log format", map[string]string{"WOPIBRIDGE_LOG_FORMAT": "logfmt"},
			`WOPIBRIDGE_LOG_FORMAT: "logfmt" is not a format (use text or json)`},
		{"max file size syntax", map[string]string{"WOPIBRIDGE_MAX_FILE_SIZE": "1.5GB"},
			`WOPIBRIDGE_MAX_FILE_SIZE: "1.5GB" is not a size (use bytes or a unit, e.g. 512MB, 100MiB, 1GiB)`},
		{"max file size zero", map[string]string{"WOPIBRIDGE_MAX_FILE_SIZE": "0"},
			`WOPIBRIDGE_MAX_FILE_SIZE: 0 is not a size above 0 (use e.g. 100MiB or 1GiB)`},
		{"shutdown timeout", map[string]string{"WOPIBRIDGE_SHUTDOWN_TIMEOUT": "-1s"},
			`WOPIBRIDGE_SHUTDOWN_TIMEOUT: -1s is not a duration above 0 (use e.g. 30s)`},
		{"demo mode on every interface", map[string]string{"WOPIBRIDGE_LISTEN": "0.0.0.0:8080"},
			`WOPIBRIDGE_LAUNCH_SECRET: empty (demo mode) is allowed only when WOPIBRIDGE_LISTEN is a loopback address, and it is "0.0.0.0:8080" (set WOPIBRIDGE_LAUNCH_SECRET, or listen on 127.0.0.1)`},
		{"DS without JWT off loopback", map[string]string{"WOPIBRIDGE_LISTEN": "10.1.2.3:8080", "WOPIBRIDGE_LAUNCH_SECRET": "l", "WOPIBRIDGE_DOCS_URL": "http://ds"},
			`WOPIBRIDGE_DOCS_JWT_SECRET: empty (JWT off) is allowed only when WOPIBRIDGE_LISTEN is a loopback address, and it is "10.1.2.3:8080" (set it to DS's JWT secret: services.CoAuthoring.secret in DS's local.json, or JWT_SECRET of the DS container)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(nil, env(tt.env))
			got := problems(err)
			if want := []string{tt.want}; !reflect.DeepEqual(got, want) {
				t.Errorf("problems:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestValidateSourceNamed(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"env", map[string]string{"WOPIBRIDGE_STORAGE": "s3:b"}, nil, `WOPIBRIDGE_STORAGE: unknown scheme "s3"`},
		{"flag", nil, []string{"--storage=s3:b"}, `WOPIBRIDGE_STORAGE (--storage): unknown scheme "s3"`},
		{"file", nil, []string{"--config=testdata/layers.json", "--token-ttl=soon"}, `WOPIBRIDGE_TOKEN_TTL (--token-ttl): "soon" is not a duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args, env(tt.env))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %v, want it to start with %q", err, tt.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	_, err := Load([]string{"--log-format=xml", "--proof=maybe"}, env(map[string]string{
		"WOPIBRIDGE_LISTEN":        "0.0.0.0:8080",
		"WOPIBRIDGE_STORAGE":       "s3:bucket",
		"WOPIBRIDGE_TOKEN_TTL":     "forever",
		"WOPIBRIDGE_SECRET":        "x",
		"WOPIBRIDGE_SECRET_FILE":   "testdata/secret.txt",
		"WOPIBRIDGE_MAX_FILE_SIZE": "0",
	}))
	var got []string
	for _, p := range problems(err) {
		name, _, _ := strings.Cut(p, ":")
		got = append(got, name)
	}
	want := []string{
		"WOPIBRIDGE_STORAGE",
		"WOPIBRIDGE_SECRET and WOPIBRIDGE_SECRET_FILE are both set (set only one)",
		"WOPIBRIDGE_TOKEN_TTL",
		"WOPIBRIDGE_PROOF",
		"WOPIBRIDGE_LOG_FORMAT",
		"WOPIBRIDGE_MAX_FILE_SIZE",
		"WOPIBRIDGE_LAUNCH_SECRET",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems named:\n got %q\nwant %q\nerror:\n%v", got, want, err)
	}
}

func TestValidateBuiltByHand(t *testing.T) {
	c := Default()
	c.Storage = StorageConfig{Kind: "s3"}
	c.State = StateConfig{Kind: StateRedis, RedisURL: "redis://"}
	c.IPFilter = IPFilter{{Pattern: "", Allow: true}}
	c.Listen = "nonsense"
	c.Log.Level = ""
	got := problems(c.Validate())
	want := []string{
		`WOPIBRIDGE_LISTEN: "nonsense" is not host:port (use e.g. 127.0.0.1:8080, or :8080 for every interface)`,
		`WOPIBRIDGE_STORAGE: unknown scheme "s3" (use fs:<dir> or wopi:<origin>[,<origin>...])`,
		`WOPIBRIDGE_STATE: "redis:": no host (use bolt:<file>, redis://host:port/db, redis-sentinel://host:port,host:port/db?master=name or redis-cluster://host:port,host:port)`,
		`WOPIBRIDGE_IPFILTER: empty pattern (use pattern=allow|deny[,...], e.g. 10.0.*=allow,*=deny)`,
		`WOPIBRIDGE_LOG_LEVEL: "" is not a level (use panic, fatal, error, warn, info, debug or trace)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}
}

func TestDemoMode(t *testing.T) {
	tests := []struct {
		listen   string
		secret   string
		wantErr  bool
		wantDemo bool
	}{
		{"127.0.0.1:8080", "", false, true},
		{"127.9.9.9:8080", "", false, true},
		{"[::1]:8080", "", false, true},
		{"localhost:8080", "", false, true},
		{"LOCALHOST:0", "", false, true},
		{"0.0.0.0:8080", "", true, true},
		{"[::]:8080", "", true, true},
		{"192.168.1.5:8080", "", true, true},
		{"bridge.internal:8080", "", true, true},
		{"0.0.0.0:8080", "launch-secret", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.listen+"/"+tt.secret, func(t *testing.T) {
			e := map[string]string{"WOPIBRIDGE_LISTEN": tt.listen, "WOPIBRIDGE_LAUNCH_SECRET": tt.secret,
				"WOPIBRIDGE_PUBLIC_URL": "http://bridge.example.com"}
			c, err := Load(nil, env(e))
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "WOPIBRIDGE_LAUNCH_SECRET") || !strings.Contains(err.Error(), "WOPIBRIDGE_LISTEN") {
					t.Errorf("error %v, want one naming WOPIBRIDGE_LAUNCH_SECRET and WOPIBRIDGE_LISTEN", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.DemoMode() != tt.wantDemo {
				t.Errorf("DemoMode() = %v, want %v", c.DemoMode(), tt.wantDemo)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	const long = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name string
		env  map[string]string
		want []string // each a prefix of one warning, in order
	}{
		{"nothing to say", map[string]string{"WOPIBRIDGE_LAUNCH_SECRET": long, "WOPIBRIDGE_DOCS_URL": "http://ds", "WOPIBRIDGE_DOCS_JWT_SECRET": "j"}, nil},
		{"demo mode, no DS", nil, []string{"WOPIBRIDGE_LAUNCH_SECRET is empty: demo mode", "WOPIBRIDGE_DOCS_URL is empty"}},
		{"DS without JWT on loopback", map[string]string{"WOPIBRIDGE_LAUNCH_SECRET": long, "WOPIBRIDGE_DOCS_URL": "http://ds"},
			[]string{"WOPIBRIDGE_DOCS_JWT_SECRET is empty: JWT is off"}},
		{"proof off", map[string]string{"WOPIBRIDGE_LAUNCH_SECRET": long, "WOPIBRIDGE_DOCS_URL": "http://ds", "WOPIBRIDGE_DOCS_JWT_SECRET": "j", "WOPIBRIDGE_PROOF": "off"},
			[]string{"WOPIBRIDGE_PROOF=off"}},
		{"short secrets", map[string]string{"WOPIBRIDGE_LAUNCH_SECRET": "short", "WOPIBRIDGE_SECRET": "short", "WOPIBRIDGE_DOCS_URL": "http://ds", "WOPIBRIDGE_DOCS_JWT_SECRET": "j"},
			[]string{"WOPIBRIDGE_LAUNCH_SECRET is shorter than 32 bytes", "WOPIBRIDGE_SECRET is shorter than 32 bytes"}},
		{"public URL derived from every interface", map[string]string{"WOPIBRIDGE_LISTEN": "0.0.0.0:8080", "WOPIBRIDGE_LAUNCH_SECRET": long, "WOPIBRIDGE_DOCS_URL": "http://ds", "WOPIBRIDGE_DOCS_JWT_SECRET": "j"},
			[]string{"WOPIBRIDGE_PUBLIC_URL is not set and was derived from WOPIBRIDGE_LISTEN as http://0.0.0.0:8080"}},
		{"ipfilter only denies", map[string]string{"WOPIBRIDGE_LAUNCH_SECRET": long, "WOPIBRIDGE_DOCS_URL": "http://ds", "WOPIBRIDGE_DOCS_JWT_SECRET": "j", "WOPIBRIDGE_IPFILTER": "10.*=deny"},
			[]string{"WOPIBRIDGE_IPFILTER only denies"}},
		{"demo mode behind a public URL", map[string]string{"WOPIBRIDGE_PUBLIC_URL": "https://bridge.example.com", "WOPIBRIDGE_DOCS_URL": "http://ds", "WOPIBRIDGE_DOCS_JWT_SECRET": "j"},
			[]string{"WOPIBRIDGE_LAUNCH_SECRET is empty: demo mode", "demo mode while WOPIBRIDGE_PUBLIC_URL is https://bridge.example.com"}},
		{"DS public URL without DS URL", map[string]string{"WOPIBRIDGE_LAUNCH_SECRET": long, "WOPIBRIDGE_DOCS_PUBLIC_URL": "https://docs.example.com"},
			[]string{"WOPIBRIDGE_DOCS_URL is empty", "WOPIBRIDGE_DOCS_PUBLIC_URL is set but WOPIBRIDGE_DOCS_URL is not"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(nil, env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got := c.Warnings()
			if len(got) != len(tt.want) {
				t.Fatalf("Warnings() = %q, want %d starting with %q", got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("warning %d = %q, want prefix %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	const (
		jwt    = "jwt-secret-value"
		launch = "launch-secret-value"
		own    = "own-secret-value"
		redisP = "redis-password-value"
	)
	c, err := Load([]string{"--docs-jwt-secret", jwt, "--secret", own}, env(map[string]string{
		"WOPIBRIDGE_LAUNCH_SECRET": launch,
		"WOPIBRIDGE_DOCS_URL":      "http://ds",
		"WOPIBRIDGE_STATE":         "redis://user:" + redisP + "@redis:6379/0",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Docs.JWTSecret != jwt || c.LaunchSecret != launch || c.Secret != own || !strings.Contains(c.State.RedisURL, redisP) {
		t.Fatalf("secrets not loaded: %+v", c.Redacted())
	}
	asJSON, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"String":        c.String(),
		"%v":            fmt.Sprintf("%v", c),
		"%+v of value":  fmt.Sprintf("%+v", *c),
		"%#v":           fmt.Sprintf("%#v", c),
		"%v of Docs":    fmt.Sprintf("%v", c.Docs),
		"%#v of Docs":   fmt.Sprintf("%#v", c.Docs),
		"json.Marshal":  string(asJSON),
		"Redacted dump": fmt.Sprint(c.Redacted()),
	}
	for name, out := range outputs {
		for _, secret := range []string{jwt, launch, own, redisP} {
			if strings.Contains(out, secret) {
				t.Errorf("%s shows a secret: %s", name, out)
			}
		}
	}
	r := c.Redacted()
	for k, want := range map[string]any{"docs_jwt_secret": "(set)", "launch_secret": "(set)", "secret": "(set)", "state": "redis://user:xxxxx@redis:6379/0"} {
		if r[k] != want {
			t.Errorf("Redacted()[%q] = %q, want %q", k, r[k], want)
		}
	}
}

// TestStateInsideStorage: a bolt state file below the fs storage directory, where it
// would be served as a document, is refused with a message that says where to put it;
// directly in the directory (the default, hidden) or below a dot folder it is accepted,
// as it is outside the directory.
func TestStateInsideStorage(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, state string
		refused     bool
	}{
		{"default", "", false},
		{"directly in the storage directory", "bolt:" + dir + "/data/wopibridge.db", false},
		{"in a subfolder", "bolt:" + dir + "/data/state/wopibridge.db", true},
		{"deeper, through ..", "bolt:" + dir + "/other/../data/a/b/state.db", true},
		{"below a dot folder", "bolt:" + dir + "/data/.wopibridge/wopibridge.db", false},
		{"outside", "bolt:" + dir + "/state/wopibridge.db", false},
		{"beside, with a common prefix", "bolt:" + dir + "/data2/wopibridge.db", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := map[string]string{"WOPIBRIDGE_STORAGE": "fs:" + dir + "/data"}
			if tt.state != "" {
				e["WOPIBRIDGE_STATE"] = tt.state
			}
			_, err := Load(nil, env(e))
			got := problems(err)
			if !tt.refused {
				if len(got) != 0 {
					t.Fatalf("problems: %q", got)
				}
				return
			}
			if len(got) != 1 || !strings.HasPrefix(got[0], "WOPIBRIDGE_STATE: the state file ") ||
				!strings.Contains(got[0], "where it would be listed and served as a document") {
				t.Fatalf("problems: %q", got)
			}
		})
	}
}

// TestStateInsideStorageSymlink: a state path that reaches into the storage directory
// through a symbolic link is refused as well.
func TestStateInsideStorageSymlink(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "data", "state"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "data", "state"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	_, err := Load(nil, env(map[string]string{"WOPIBRIDGE_STORAGE": "fs:" + dir + "/data", "WOPIBRIDGE_STATE": "bolt:" + dir + "/link/wopibridge.db"}))
	if got := problems(err); len(got) != 1 || !strings.HasPrefix(got[0], "WOPIBRIDGE_STATE: the state file") {
		t.Fatalf("problems: %q", got)
	}
}

// TestSecuritySettings: frame ancestors, the admin listener and the connection cap,
// their defaults and their refusals.
func TestSecuritySettings(t *testing.T) {
	c, err := Load(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.FrameAncestors != "'self'" || c.AdminListen != "" || c.MaxConnections != DefaultMaxConnections {
		t.Fatalf("defaults: %q %q %d", c.FrameAncestors, c.AdminListen, c.MaxConnections)
	}
	c, err = Load([]string{"--frame-ancestors", "'self', https://portal.example.com", "--admin-listen", "127.0.0.1:9090", "--max-connections", "100"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.FrameAncestors != "'self' https://portal.example.com" || c.AdminListen != "127.0.0.1:9090" || c.MaxConnections != 100 {
		t.Fatalf("flags: %q %q %d", c.FrameAncestors, c.AdminListen, c.MaxConnections)
	}
	bad := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"WOPIBRIDGE_FRAME_ANCESTORS": "https://a.example; script-src *"}, "WOPIBRIDGE_FRAME_ANCESTORS: "},
		{map[string]string{"WOPIBRIDGE_FRAME_ANCESTORS": "'unsafe-inline'"}, "WOPIBRIDGE_FRAME_ANCESTORS: "},
		{map[string]string{"WOPIBRIDGE_ADMIN_LISTEN": "9090"}, "WOPIBRIDGE_ADMIN_LISTEN: "},
		{map[string]string{"WOPIBRIDGE_ADMIN_LISTEN": DefaultListen}, "WOPIBRIDGE_ADMIN_LISTEN: "},
		{map[string]string{"WOPIBRIDGE_MAX_CONNECTIONS": "2"}, "WOPIBRIDGE_MAX_CONNECTIONS: 2 is too low"},
		{map[string]string{"WOPIBRIDGE_MAX_CONNECTIONS": "many"}, "WOPIBRIDGE_MAX_CONNECTIONS: "},
	}
	for _, b := range bad {
		_, err := Load(nil, env(b.env))
		if got := problems(err); len(got) != 1 || !strings.HasPrefix(got[0], b.want) {
			t.Errorf("%v: problems %q, want one starting %q", b.env, got, b.want)
		}
	}
}
