package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/wopibridge/wopibridge/bridge/events"
	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/config"
)

// wopibridge events <file id>: a file's timeline. Like "wopibridge saves", it asks the
// running server over its admin routes when the server holds the bolt state file, and
// reads the state store itself otherwise (Redis, or no server running).

const eventsUsage = `usage:
  wopibridge events <file id> [--json] [--limit n] [--since seq]
                 the file's timeline, oldest first: who opened it, held its lock and
                 saved it, in both styles (--json: as the API answers it, newest first)
Settings (WOPIBRIDGE_STATE, WOPIBRIDGE_CONFIG ...) are the server's.
`

// openTimeline builds the server's timeline over st from the settings: nil (events
// dropped) when WOPIBRIDGE_EVENTS_MAX is 0. The returned func stores what is queued and
// stops it.
func openTimeline(cfg *config.Config, st state.Store, log *logrus.Logger) (events.Recorder, func()) {
	if !cfg.Events.Enabled() {
		return nil, func() {}
	}
	l := events.NewLog(st, events.LogOptions{Max: cfg.Events.Max, MaxAge: cfg.Events.MaxAge})
	return l, func() {
		if err := l.Close(); err != nil {
			log.WithError(err).Warn("timeline events lost at shutdown")
		}
	}
}

// timelineJSON is the API's answer (bridge.eventsJSON).
type timelineJSON struct {
	File    string         `json:"file"`
	Holder  *events.Holder `json:"holder"`
	Dropped uint64         `json:"dropped"`
	Events  []events.Event `json:"events"`
}

func eventsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("wopibridge events", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() { fmt.Fprint(stderr, eventsUsage) }
	asJSON := flags.Bool("json", false, "print as JSON, newest first")
	limit := flags.Int("limit", 100, "show the newest `n` events (at most 1000)")
	since := flags.Uint64("since", 0, "show only events after this `seq`")
	cfg, pos, code := loadWithArgs(flags, args, getenv, stderr)
	if cfg == nil {
		return code
	}
	switch {
	case len(pos) == 1 && pos[0] == "help":
		fmt.Fprint(stdout, eventsUsage)
		return 0
	case len(pos) != 1 || pos[0] == "":
		fmt.Fprintf(stderr, "wopibridge events: want one file id, got %q\n%s", pos, eventsUsage)
		return 2
	case *limit < 1 || *limit > 1000:
		fmt.Fprintf(stderr, "wopibridge events: --limit %d: want 1 to 1000\n", *limit)
		return 2
	}
	tl, served, err := readTimeline(ctx, cfg, pos[0], *since, *limit)
	if err != nil {
		fmt.Fprintf(stderr, "wopibridge events: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(tl); err != nil {
			return 1
		}
		return 0
	}
	printTimeline(stdout, tl)
	if !served {
		fmt.Fprintln(stdout, "(read from the state store: who holds the file now is known to a running server)")
	}
	return 0
}

// readTimeline asks the running server when its admin file is there and it answers
// (served), and reads the state store otherwise.
func readTimeline(ctx context.Context, cfg *config.Config, fileID string, since uint64, limit int) (tl timelineJSON, served bool, err error) {
	q := url.Values{"since": {strconv.FormatUint(since, 10)}, "limit": {strconv.Itoa(limit)}}
	if path := adminFile(cfg); path != "" {
		if data, err := os.ReadFile(path); err == nil {
			var ai adminInfo
			if json.Unmarshal(data, &ai) == nil && ai.URL != "" {
				rs := &remoteSaves{ctx: ctx, info: ai, client: &http.Client{Timeout: time.Minute}}
				resp, err := rs.do(http.MethodGet, "/admin/v1/events/"+url.PathEscape(fileID)+"?"+q.Encode())
				if err == nil {
					defer resp.Body.Close()
					if err := json.NewDecoder(resp.Body).Decode(&tl); err != nil {
						return tl, true, fmt.Errorf("the running server's answer: %w", err)
					}
					return tl, true, nil
				}
			}
		}
	}
	st, err := openState(cfg)
	if err != nil {
		return tl, false, err
	}
	defer st.Close()
	evs, err := events.List(st, fileID, since, limit)
	if err != nil {
		return tl, false, err
	}
	if evs == nil {
		evs = []events.Event{}
	}
	return timelineJSON{File: fileID, Events: evs}, false, nil
}

func printTimeline(w io.Writer, tl timelineJSON) {
	fmt.Fprintf(w, "file %s\n", tl.File)
	if h := tl.Holder; h != nil {
		fmt.Fprintf(w, "held by: %s session %s", styleName(h.Style), h.Session)
		if h.User != "" {
			fmt.Fprintf(w, ", user %s", h.User)
		}
		if !h.Since.IsZero() {
			fmt.Fprintf(w, ", since %s", h.Since.UTC().Format(time.RFC3339))
		}
		fmt.Fprintln(w)
	}
	if tl.Dropped > 0 {
		fmt.Fprintf(w, "events dropped (not stored): %d\n", tl.Dropped)
	}
	if len(tl.Events) == 0 {
		fmt.Fprintln(w, "no events")
		return
	}
	evs := slices.Clone(tl.Events)
	slices.Reverse(evs) // oldest first
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tSTYLE\tKIND\tUSER\tDETAILS")
	for _, e := range evs {
		user := e.User
		if user == "" {
			user = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.UTC().Format("2006-01-02 15:04:05.000"),
			styleName(e.Style), e.Kind, user, eventDetails(e))
	}
	tw.Flush()
}

func styleName(s string) string {
	switch s {
	case events.StyleDocs:
		return "Docs API"
	case events.StyleWOPI:
		return "WOPI"
	case "":
		return "-"
	}
	return s
}

// eventDetails is what matters of an event beyond its time, style, kind and user.
func eventDetails(e events.Event) string {
	var d []string
	add := func(k, v string) {
		if v != "" {
			d = append(d, k+"="+v)
		}
	}
	add("mode", e.Mode)
	add("reason", e.Reason)
	if h := e.Holder; h != nil {
		add("holder", styleName(h.Style)+"/"+h.Session)
	}
	add("session", e.Session)
	add("new_session", e.NewSession)
	add("op", e.Op)
	if e.Status != 0 {
		add("status", strconv.Itoa(e.Status))
	}
	if e.Bytes != 0 {
		add("bytes", strconv.FormatInt(e.Bytes, 10))
	}
	if e.VersionBefore != "" || e.VersionAfter != "" {
		add("version", e.VersionBefore+"->"+e.VersionAfter)
	}
	if e.DurationMS != 0 {
		add("took", strconv.FormatFloat(e.DurationMS, 'f', -1, 64)+"ms")
	}
	add("outcome", e.Outcome)
	add("copy", e.ConflictCopy)
	add("detail", e.Detail)
	if len(d) == 0 {
		return "-"
	}
	return strings.Join(d, " ")
}
