package config_test

import (
	"fmt"

	"github.com/wopibridge/wopibridge/config"
)

func ExampleLoad() {
	env := map[string]string{
		"WOPIBRIDGE_DOCS_URL":        "http://documentserver:8000/",
		"WOPIBRIDGE_DOCS_JWT_SECRET": "shared-with-ds",
		"WOPIBRIDGE_STORAGE":         "fs:/srv/documents",
	}
	// A command passes os.Args[1:] and os.Getenv.
	c, err := config.Load([]string{"--log-level=debug"}, func(k string) string { return env[k] })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Docs.URL, c.Docs.PublicURL, c.Proof)
	fmt.Println(c.State.Kind, c.State.Path)
	fmt.Println(c.Log.Level, c.Redacted()["docs_jwt_secret"])
	// Output:
	// http://documentserver:8000 http://documentserver:8000 require
	// bolt /srv/documents/wopibridge.db
	// debug (set)
}

func ExampleConfig_Validate() {
	c := config.Default()
	c.Listen = "0.0.0.0:8080"
	c.TokenTTL = 0
	fmt.Println(c.Validate())
	// Output:
	// WOPIBRIDGE_TOKEN_TTL: 0s is out of range (use a duration above 0 and at most 168h0m0s, e.g. 10h)
	// WOPIBRIDGE_LAUNCH_SECRET: empty (demo mode) is allowed only when WOPIBRIDGE_LISTEN is a loopback address, and it is "0.0.0.0:8080" (set WOPIBRIDGE_LAUNCH_SECRET, or listen on 127.0.0.1)
}
