package config

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestEventsSettings(t *testing.T) {
	d := Default()
	if d.Events.Max != 500 || d.Events.MaxAge != 720*time.Hour || !d.Events.Enabled() {
		t.Errorf("default Events = %+v, want 500 and 720h, enabled", d.Events)
	}

	c, err := Load(nil, env(map[string]string{"WOPIBRIDGE_EVENTS_MAX": "0", "WOPIBRIDGE_EVENTS_MAX_AGE": "24h"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Events.Max != 0 || c.Events.MaxAge != 24*time.Hour || c.Events.Enabled() {
		t.Errorf("env: Events = %+v, want 0 (off) and 24h", c.Events)
	}

	// The file, then the environment, then flags.
	file := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(file, []byte(`{"events_max": 50, "events_max_age": "2h"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load([]string{"--events-max=70"}, env(map[string]string{"WOPIBRIDGE_CONFIG": file, "WOPIBRIDGE_EVENTS_MAX_AGE": "3h"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Events.Max != 70 || c.Events.MaxAge != 3*time.Hour {
		t.Errorf("file+env+flag: Events = %+v, want 70 and 3h", c.Events)
	}

	for _, tc := range []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"WOPIBRIDGE_EVENTS_MAX": "-1"},
			[]string{"WOPIBRIDGE_EVENTS_MAX: -1 is out of range (use 0 to keep no events, or up to 100000, e.g. 500)"}},
		{map[string]string{"WOPIBRIDGE_EVENTS_MAX": "100001"},
			[]string{"WOPIBRIDGE_EVENTS_MAX: 100001 is out of range (use 0 to keep no events, or up to 100000, e.g. 500)"}},
		{map[string]string{"WOPIBRIDGE_EVENTS_MAX": "many", "WOPIBRIDGE_EVENTS_MAX_AGE": "0s"}, []string{
			`WOPIBRIDGE_EVENTS_MAX: "many" is not a whole number (use e.g. 500, or 0 to keep no events)`,
			"WOPIBRIDGE_EVENTS_MAX_AGE: 0s is not a duration above 0 (use e.g. 720h)",
		}},
		{map[string]string{"WOPIBRIDGE_EVENTS_MAX_AGE": "a month"},
			[]string{`WOPIBRIDGE_EVENTS_MAX_AGE: "a month" is not a duration (use e.g. 10h, 90m or 30s)`}},
	} {
		_, err := Load(nil, env(tc.env))
		got := problems(err)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%v: problems %q lack %q", tc.env, got, w)
			}
		}
	}
}
