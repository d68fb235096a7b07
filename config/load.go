package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// EnvConfig names the environment variable holding the JSON file's path.
const EnvConfig = "WOPIBRIDGE_CONFIG"

// Load builds the configuration from the defaults, the optional JSON file
// (WOPIBRIDGE_CONFIG or --config), the environment read through getenv, and the flags
// in args, each overriding the ones before; then it validates the result. Every
// problem found is reported in the one returned error. Positional arguments are an
// error. On error the Config is nil.
func Load(args []string, getenv func(string) string) (*Config, error) {
	fs := flag.NewFlagSet("wopibridge", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c, err := LoadFlags(fs, args, getenv)
	if err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (settings are flags such as --listen=127.0.0.1:8080)", fs.Arg(0))
	}
	return c, nil
}

// LoadFlags is Load with a flag set the caller owns: it adds the configuration's flags
// to fs, which may already hold the caller's own, parses args with it, and leaves the
// positional arguments in fs.Args(). A help request returns flag.ErrHelp.
func LoadFlags(fs *flag.FlagSet, args []string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	flagValues := map[string]*string{}
	var configPath *string
	fs.Func("config", "JSON configuration `file` ("+EnvConfig+")", func(v string) error {
		configPath = &v
		return nil
	})
	for _, s := range settings {
		names := []string{s.key}
		if s.secret {
			names = append(names, s.key+"_file")
		}
		for _, key := range names {
			usage := s.usage + " (" + envName(key) + "; default " + s.def + ")"
			if key != s.key {
				usage = "`file` holding the " + s.flag() + " value (" + envName(key) + ")"
			}
			fs.Func(strings.ReplaceAll(key, "_", "-"), usage, func(v string) error {
				flagValues[key] = &v
				return nil
			})
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}

	c := Default()
	explicit := map[string]bool{}
	var errs []error

	path, pathSource := getenv(EnvConfig), EnvConfig
	if configPath != nil {
		path, pathSource = *configPath, "--config"
	}
	if path != "" {
		values, fileErrs := readFile(path)
		for _, err := range fileErrs {
			errs = append(errs, fmt.Errorf("config file %s (%s): %w", path, pathSource, err))
		}
		errs = append(errs, apply(c, explicit, fileSource{path, values})...)
	}
	errs = append(errs, apply(c, explicit, envSource{getenv})...)
	errs = append(errs, apply(c, explicit, flagSource(flagValues))...)

	c.derive(explicit)
	errs = append(errs, c.Validate())
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// source is one layer of configuration.
type source interface {
	// lookup returns a key's text and whether the layer sets it.
	lookup(key string) (string, bool)
	// name says where a setting came from, for messages.
	name(key string) string
}

type envSource struct{ getenv func(string) string }

func (e envSource) lookup(key string) (string, bool) {
	v := e.getenv(envName(key))
	return v, v != ""
}
func (e envSource) name(key string) string { return envName(key) }

type flagSource map[string]*string

func (f flagSource) lookup(key string) (string, bool) {
	if v := f[key]; v != nil {
		return *v, true
	}
	return "", false
}
func (f flagSource) name(key string) string { return "--" + strings.ReplaceAll(key, "_", "-") }

type fileSource struct {
	path   string
	values map[string]string
}

func (f fileSource) lookup(key string) (string, bool) {
	v, ok := f.values[key]
	return v, ok
}
func (f fileSource) name(key string) string { return fmt.Sprintf("%q in %s", key, f.path) }

// apply stores every setting src sets, reading secrets from their _FILE variants.
func apply(c *Config, explicit map[string]bool, src source) []error {
	var errs []error
	where := func(key string) string {
		if n := src.name(key); n != envName(key) {
			return envName(key) + " (" + n + ")"
		}
		return envName(key)
	}
	for _, s := range settings {
		v, ok := src.lookup(s.key)
		if s.secret {
			fileKey := s.key + "_file"
			if path, fromFile := src.lookup(fileKey); fromFile {
				if ok {
					errs = append(errs, fmt.Errorf("%s and %s are both set (set only one)", where(s.key), where(fileKey)))
					continue
				}
				secret, err := readSecret(path)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", where(fileKey), err))
					continue
				}
				v, ok = secret, true
			}
		}
		if !ok {
			continue
		}
		if err := s.apply(c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where(s.key), err))
			continue
		}
		explicit[s.key] = strings.TrimSpace(v) != ""
	}
	return errs
}

func readSecret(path string) (string, error) {
	if path == "" {
		return "", errors.New("empty path (name the file holding the secret)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read the secret: %w", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty (put the secret in it)", path)
	}
	return s, nil
}

// readFile reads the JSON configuration file into setting texts. Problems with some
// fields do not keep the others from being read.
func readFile(path string) (map[string]string, []error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, []error{fmt.Errorf("cannot read it: %w", err)}
	}
	return parseFile(b)
}

// parseFile decodes a JSON object of settings. Values are strings, except that
// max_file_size may be a number and ipfilter an array of rules.
func parseFile(b []byte) (map[string]string, []error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil {
		return nil, []error{jsonError(b, err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, []error{errors.New("extra data after the JSON object")}
	}
	if raw == nil {
		return nil, []error{errors.New(`want a JSON object of settings, e.g. {"listen": "127.0.0.1:8080"}`)}
	}
	known := map[string]setting{}
	for _, s := range settings {
		known[s.key] = s
		if s.secret {
			known[s.key+"_file"] = setting{key: s.key + "_file"}
		}
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	values := map[string]string{}
	var errs []error
	for _, k := range keys {
		s, ok := known[k]
		if !ok {
			errs = append(errs, unknownField(k, known))
			continue
		}
		v, err := fileValue(s, raw[k])
		if err != nil {
			errs = append(errs, fmt.Errorf("field %q: %w", k, err))
			continue
		}
		values[k] = v
	}
	return values, errs
}

func fileValue(s setting, raw json.RawMessage) (string, error) {
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		return str, nil
	}
	if s.number {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err == nil {
			return n.String(), nil
		}
	}
	if s.list {
		var list []string
		if err := json.Unmarshal(raw, &list); err == nil {
			return strings.Join(list, ","), nil
		}
		return "", errors.New("want a string or an array of strings")
	}
	if s.number {
		return "", errors.New("want a number of bytes or a string such as \"1GiB\"")
	}
	return "", errors.New("want a string")
}

func unknownField(k string, known map[string]setting) error {
	norm := strings.ToLower(strings.TrimPrefix(strings.ToLower(k), "wopibridge_"))
	norm = strings.NewReplacer("-", "_", ".", "_").Replace(norm)
	var snake strings.Builder
	for i, r := range k {
		if r >= 'A' && r <= 'Z' && i > 0 {
			snake.WriteByte('_')
		}
		snake.WriteRune(r)
	}
	for _, guess := range []string{norm, strings.ToLower(snake.String())} {
		if _, ok := known[guess]; ok && guess != k {
			return fmt.Errorf("unknown field %q (did you mean %q?)", k, guess)
		}
	}
	return fmt.Errorf("unknown field %q (known fields are the setting names in lower case, e.g. \"listen\", \"docs_url\", \"storage\")", k)
}

// jsonError turns a decoding error into one naming the line and column.
func jsonError(b []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var off int64
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		return errors.New("want a JSON object of settings, e.g. {\"listen\": \"127.0.0.1:8080\"}")
	case errors.Is(err, io.EOF):
		return errors.New("empty file (want a JSON object of settings)")
	default:
		return fmt.Errorf("invalid JSON: %w", err)
	}
	line, col := 1, 1
	for _, c := range b[:max(0, min(int(off)-1, len(b)))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Errorf("invalid JSON at line %d, column %d: %v", line, col, err)
}
