package e2e

import (
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// TestAdminListen: with WOPIBRIDGE_ADMIN_LISTEN, /metrics, /readyz and /healthz are
// served on that address only, the main address answers 404 for them, and
// `wopibridge healthcheck` (the container's HEALTHCHECK) asks the admin address.
func TestAdminListen(t *testing.T) {
	admin := freeAddr(t)
	p := startProc(t, "WOPIBRIDGE_ADMIN_LISTEN="+admin)
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/metrics", "/readyz", "/healthz"} {
		if code, _ := get(p.URL + path); code != http.StatusNotFound {
			t.Errorf("main %s = %d, want 404", path, code)
		}
		if code, body := get("http://" + admin + path); code == http.StatusNotFound {
			t.Errorf("admin %s = 404: %s", path, body)
		}
	}
	if code, body := get("http://" + admin + "/metrics"); code != http.StatusOK || !strings.Contains(body, "# TYPE") {
		t.Errorf("admin /metrics = %d", code)
	}
	if code, _ := get("http://" + admin + "/"); code != http.StatusNotFound {
		t.Errorf("admin / = %d, want 404", code)
	}
	if code, _ := get(p.URL + "/"); code != http.StatusOK {
		t.Errorf("main / = %d", code)
	}
	cmd := exec.Command(wopibridgeBinary(t), "healthcheck")
	cmd.Env = p.env
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "healthy" {
		t.Errorf("healthcheck: %v %s", err, out)
	}
}
