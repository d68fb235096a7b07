package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wopibridge/wopibridge/bridge/session"
	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/config"
)

// wopibridge saves list|export|retry|drop: the saves that wait for storage or were
// kept in the recovery area. With a bolt state file that a running server holds open
// (bolt has one writer), the command asks that server, over its admin routes on
// loopback, with the token the server writes beside the state file (<state>.admin,
// mode 0600); otherwise it opens the state store itself (Redis, or no server running).

const savesUsage = `usage:
  wopibridge saves list [--json]            the saves that wait for storage or were kept in
                                            the recovery area
  wopibridge saves export <id> [-o <file>]  write a save's bytes to a file (or stdout)
  wopibridge saves retry <id>               put a save back in the spool: it is written
                                            to storage (or a conflict copy) when storage takes it
  wopibridge saves drop <id>                delete a save for good; only after export
Settings (WOPIBRIDGE_STATE, WOPIBRIDGE_CONFIG ...) are the server's.
`

// adminFile is where a server with a bolt state file leaves its admin address and token.
func adminFile(cfg *config.Config) string {
	if cfg.State.Kind != config.StateBolt {
		return ""
	}
	return cfg.State.Path + ".admin"
}

type adminInfo struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

// writeAdminFile makes a fresh admin token and writes it, with the address the server
// listens on as loopback reaches it, beside the state file. It returns the token and
// what removes the file.
func writeAdminFile(cfg *config.Config, addr net.Addr) (string, func(), error) {
	path := adminFile(cfg)
	if path == "" {
		return "", func() {}, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	token := hex.EncodeToString(b)
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "", nil, err
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	data, _ := json.Marshal(adminInfo{URL: "http://" + net.JoinHostPort(host, port), Token: token})
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return "", nil, fmt.Errorf("admin token file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", nil, fmt.Errorf("admin token file: %w", err)
	}
	return token, func() { os.Remove(path) }, nil
}

// savesStore is what the subcommands need, from a running server or the state store.
type savesStore interface {
	list() ([]session.SaveInfo, error)
	export(id string, w io.Writer) (int64, error)
	exported(id string, size int64) error
	retry(id string) (session.SaveInfo, error)
	drop(id string) error
	close()
}

func saves(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("wopibridge saves", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() { fmt.Fprint(stderr, savesUsage) }
	asJSON := flags.Bool("json", false, "list as JSON")
	out := flags.String("o", "", "export: the file to write (default stdout)")
	cfg, pos, code := loadWithArgs(flags, args, getenv, stderr)
	if cfg == nil {
		return code
	}
	if len(pos) == 0 {
		fmt.Fprint(stderr, savesUsage)
		return 2
	}
	sub, rest := pos[0], pos[1:]
	if sub == "help" {
		fmt.Fprint(stdout, savesUsage)
		return 0
	}
	needID := sub == "export" || sub == "retry" || sub == "drop"
	switch {
	case sub != "list" && !needID:
		fmt.Fprintf(stderr, "wopibridge saves: unknown subcommand %q\n%s", sub, savesUsage)
		return 2
	case needID && len(rest) != 1, !needID && len(rest) != 0:
		fmt.Fprintf(stderr, "wopibridge saves %s: wrong arguments %q\n%s", sub, rest, savesUsage)
		return 2
	}
	st, err := openSaves(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "wopibridge saves: %v\n", err)
		return 1
	}
	defer st.close()
	if err := runSaves(st, sub, rest, *asJSON, *out, stdout); err != nil {
		fmt.Fprintf(stderr, "wopibridge saves %s: %v\n", sub, err)
		return 1
	}
	return 0
}

func runSaves(st savesStore, sub string, rest []string, asJSON bool, out string, stdout io.Writer) error {
	switch sub {
	case "list":
		list, err := st.list()
		if err != nil {
			return err
		}
		if asJSON {
			if list == nil {
				list = []session.SaveInfo{}
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(list)
		}
		printSaves(stdout, list)
		return nil
	case "export":
		id := rest[0]
		if out == "" || out == "-" {
			n, err := st.export(id, stdout)
			if err == nil {
				err = st.exported(id, n)
			}
			return err
		}
		return exportToFile(st, id, out, stdout)
	case "retry":
		si, err := st.retry(rest[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "save %s of file %s: %s\n", si.ID, si.FileID, si.State)
		return nil
	case "drop":
		if err := st.drop(rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "save %s dropped\n", rest[0])
	}
	return nil
}

// exportToFile writes a save to path durably (temp file, fsync, rename), then marks it
// exported.
func exportToFile(st savesStore, id, path string, stdout io.Writer) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".wopibridge-export-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	n, err := st.export(id, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return err
	}
	if err := st.exported(id, n); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "save %s: %d bytes written to %s\n", id, n, path)
	return nil
}

func printSaves(w io.Writer, list []session.SaveInfo) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no saves wait for storage, and none are in the recovery area")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tFACE\tFILE\tNAME\tSIZE\tSAVED\tFAILURES\tEXPORTED\tWHY")
	for _, s := range list {
		why := s.Reason
		if why == "" {
			why = s.LastError
		}
		name := s.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%v\t%s\n", s.ID, s.State, s.Face, s.FileID, name, s.Size,
			s.Created.UTC().Format(time.RFC3339), s.Failures, s.Exported, why)
	}
	tw.Flush()
}

// openSaves reaches the saves: through the running server when its admin file is there
// and it answers, else in the state store.
func openSaves(ctx context.Context, cfg *config.Config) (savesStore, error) {
	if path := adminFile(cfg); path != "" {
		if data, err := os.ReadFile(path); err == nil {
			var ai adminInfo
			if json.Unmarshal(data, &ai) == nil && ai.URL != "" {
				rs := &remoteSaves{ctx: ctx, info: ai, client: &http.Client{Timeout: 10 * time.Minute}}
				if _, err := rs.list(); err == nil {
					return rs, nil
				}
			}
		}
	}
	var st state.Store
	var err error
	switch cfg.State.Kind {
	case config.StateBolt:
		st, err = state.OpenBolt(cfg.State.Path)
	case config.StateRedis:
		st, err = state.OpenRedis(cfg.State.RedisURL)
	default:
		err = fmt.Errorf("WOPIBRIDGE_STATE: %s state is not available in this build", cfg.State.Kind)
	}
	if err != nil {
		return nil, err
	}
	return &localSaves{st: st}, nil
}

type localSaves struct{ st state.Store }

func (l *localSaves) list() ([]session.SaveInfo, error) { return session.ListSaves(l.st) }
func (l *localSaves) export(id string, w io.Writer) (int64, error) {
	return session.ExportSave(l.st, id, w)
}
func (l *localSaves) exported(id string, n int64) error { return session.MarkExported(l.st, id, n) }
func (l *localSaves) retry(id string) (session.SaveInfo, error) {
	si, err := session.RetrySave(l.st, id)
	if err == nil {
		si.State = session.SaveWaiting + " (written when the server runs and storage takes it)"
	}
	return si, err
}
func (l *localSaves) drop(id string) error { return session.DropSave(l.st, id, time.Now()) }
func (l *localSaves) close()               { l.st.Close() }

type remoteSaves struct {
	ctx    context.Context
	info   adminInfo
	client *http.Client
}

func (r *remoteSaves) close() {}

func (r *remoteSaves) do(method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.ctx, method, r.info.URL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+r.info.Token)
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking the running server: %w", err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e struct{ Error string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		err := errors.New(e.Error)
		switch resp.StatusCode {
		case http.StatusNotFound:
			err = fmt.Errorf("%w: %s", session.ErrNoSuchSave, e.Error)
		case http.StatusConflict:
			err = fmt.Errorf("%w: %s", session.ErrNotExported, e.Error)
		}
		return nil, err
	}
	return resp, nil
}

func (r *remoteSaves) list() ([]session.SaveInfo, error) {
	resp, err := r.do(http.MethodGet, "/admin/v1/saves")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var list []session.SaveInfo
	return list, json.NewDecoder(resp.Body).Decode(&list)
}

func (r *remoteSaves) export(id string, w io.Writer) (int64, error) {
	resp, err := r.do(http.MethodGet, "/admin/v1/saves/"+url.PathEscape(id)+"/content")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("the server sent %d of %d bytes", n, resp.ContentLength)
	}
	return n, err
}

func (r *remoteSaves) exported(id string, n int64) error {
	resp, err := r.do(http.MethodPost, "/admin/v1/saves/"+url.PathEscape(id)+"/exported?size="+strconv.FormatInt(n, 10))
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func (r *remoteSaves) retry(id string) (session.SaveInfo, error) {
	resp, err := r.do(http.MethodPost, "/admin/v1/saves/"+url.PathEscape(id)+"/retry")
	if err != nil {
		return session.SaveInfo{}, err
	}
	defer resp.Body.Close()
	var si session.SaveInfo
	return si, json.NewDecoder(resp.Body).Decode(&si)
}

func (r *remoteSaves) drop(id string) error {
	resp, err := r.do(http.MethodDelete, "/admin/v1/saves/"+url.PathEscape(id))
	if err == nil {
		resp.Body.Close()
	}
	return err
}

// loadWithArgs loads the configuration of a command whose positional arguments (a
// subcommand, an id) come first, with its flags before or after them: the
// configuration and every positional argument. A nil configuration means the command
// ends with code: 0 after -help, 2 after an error it has printed.
func loadWithArgs(flags *flag.FlagSet, args []string, getenv func(string) string, stderr io.Writer) (*config.Config, []string, int) {
	var pos []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		pos, args = append(pos, args[0]), args[1:]
	}
	cfg, err := config.LoadFlags(flags, args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil, nil, 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: invalid configuration:\n%v\n", flags.Name(), err)
		return nil, nil, 2
	}
	return cfg, append(pos, flags.Args()...), 0
}
