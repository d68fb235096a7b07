package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// EventsConfig bounds the per-document timeline kept in the state store.
type EventsConfig struct {
	// Max is how many events each file keeps, the oldest dropped first; 0 turns the
	// timeline off.
	Max int
	// MaxAge is how long an event is kept.
	MaxAge time.Duration
}

// Defaults of the timeline.
const (
	DefaultEventsMax    = 500
	DefaultEventsMaxAge = 720 * time.Hour
	// MaxEventsMax caps events_max: a file's timeline is read whole at times.
	MaxEventsMax = 100000
)

// Enabled reports whether events are kept.
func (e EventsConfig) Enabled() bool { return e.Max > 0 }

// eventsSettings are the timeline's settings, in the order they are documented.
var eventsSettings = []setting{
	{key: "events_max", number: true, usage: "most timeline `events` kept per file (0 turns the timeline off)", def: strconv.Itoa(DefaultEventsMax), apply: func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a whole number (use e.g. 500, or 0 to keep no events)", v)
		}
		c.Events.Max = n
		return nil
	}},
	{key: "events_max_age", usage: "how long a timeline event is kept (a Go `duration`)", def: DefaultEventsMaxAge.String(), apply: func(c *Config, v string) error {
		d, err := parseDuration(v)
		if err == nil {
			c.Events.MaxAge = d
		}
		return err
	}},
}

func init() { settings = append(settings, eventsSettings...) }

// validate adds the problems of the section.
func (e EventsConfig) validate(fail func(key, format string, args ...any)) {
	if e.Max < 0 || e.Max > MaxEventsMax {
		fail("events_max", "%d is out of range (use 0 to keep no events, or up to %d, e.g. 500)", e.Max, MaxEventsMax)
	}
	if e.MaxAge <= 0 {
		fail("events_max_age", "%v is not a duration above 0 (use e.g. 720h)", e.MaxAge)
	}
}
