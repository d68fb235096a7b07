package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/wopibridge/wopibridge/bridge"
	"github.com/wopibridge/wopibridge/bridge/officeapp"
	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
	"github.com/wopibridge/wopibridge/bridge/storage/fs"
	"github.com/wopibridge/wopibridge/bridge/storage/wopi"
	"github.com/wopibridge/wopibridge/config"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// serve runs the server until ctx is cancelled (SIGINT/SIGTERM), then shuts down
// gracefully: it stops accepting, lets requests in flight finish within the configured
// timeout, and closes the state store last.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("wopibridge serve", flag.ContinueOnError)
	flags.SetOutput(stderr)
	cfg, err := config.LoadFlags(flags, args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "wopibridge: invalid configuration:\n%v\n", err)
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "wopibridge: unexpected argument %q\n", flags.Arg(0))
		return 2
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wopibridge: %v\n", err)
		return 2
	}
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	if err := runServer(ctx, cfg, log, stdout); err != nil {
		log.WithError(err).Error("wopibridge stopped")
		return 1
	}
	return 0
}

func runServer(ctx context.Context, cfg *config.Config, log *logrus.Logger, stdout io.Writer) error {
	// A demo on a documents directory this start creates gets a sample document.
	fresh := false
	if cfg.Storage.Kind == config.StorageFS && cfg.DemoMode() {
		_, err := os.Stat(cfg.Storage.Dir)
		fresh = errors.Is(err, os.ErrNotExist)
	}
	st, err := openState(cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	keys, err := openAppKeys(cfg, st)
	if err != nil {
		return err
	}
	backend, err := openStorage(cfg, st, keys)
	if err != nil {
		return err
	}
	if fresh {
		f, err := bridge.SeedSample(ctx, backend)
		if err != nil {
			return fmt.Errorf("sample document: %w", err)
		}
		log.WithField("file_id", f.ID).Infof("created the sample document %q in %s", f.Name, cfg.Storage.Dir)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (WOPIBRIDGE_LISTEN): %w", cfg.Listen, err)
	}
	public := cfg.PublicURL
	if cfg.PublicURLDerived() {
		// Listening on port 0 picks a port: the derived public URL follows it.
		public = &url.URL{Scheme: "http", Host: ln.Addr().String()}
	}

	// "wopibridge saves" reaches a running server through its admin routes: the state
	// file is open here, and bolt has one writer.
	adminToken, removeAdmin, err := writeAdminFile(cfg, ln.Addr())
	if err != nil {
		ln.Close()
		return err
	}
	defer removeAdmin()

	// The timeline lives in the same state store. Deferred here, its Close runs after
	// the server's and before the store's: what is queued is stored first.
	timeline, closeTimeline := openTimeline(cfg, st, log)
	defer closeTimeline()

	srv, err := bridge.New(bridge.Options{
		PublicURL:    public,
		Storage:      backend,
		State:        st,
		Secret:       []byte(cfg.Secret),
		LaunchSecret: []byte(cfg.LaunchSecret),
		TokenTTL:     cfg.TokenTTL,
		MaxFileSize:  cfg.MaxFileSize,
		Logger:       log,
		Docs: bridge.DocsOptions{
			URL:             cfg.Docs.URL,
			PublicURL:       cfg.Docs.PublicURL,
			JWTSecret:       []byte(cfg.Docs.JWTSecret),
			JWTOutboxSecret: []byte(cfg.Docs.JWTOutboxSecret),
			JWTHeader:       cfg.Docs.JWTHeader,
		},
		Proof:      cfg.Proof,
		IPFilter:   cfg.IPFilter,
		AdminToken: adminToken,
		Guard: bridge.GuardOptions{
			FrameAncestors: cfg.FrameAncestors,
			SeparateAdmin:  cfg.AdminListen != "",
		},
		App:    bridge.AppOptions{Keys: keys, Style: cfg.App.Style},
		Events: timeline,
	})
	if err != nil {
		ln.Close()
		return err
	}
	defer srv.Close()

	// Bodies are held to a minimum rate by the bridge itself (slow clients are cut off
	// after the headers); headers must come within 10 s; connections are capped.
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          nil,
	}
	hs.RegisterOnShutdown(srv.EndStreams) // event streams would hold the shutdown up
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(newLimitListener(ln, cfg.MaxConnections)) }()
	var admin *http.Server
	if cfg.AdminListen != "" {
		aln, err := net.Listen("tcp", cfg.AdminListen)
		if err != nil {
			hs.Close()
			return fmt.Errorf("listen on %s (WOPIBRIDGE_ADMIN_LISTEN): %w", cfg.AdminListen, err)
		}
		admin = &http.Server{Handler: srv.AdminHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
		go func() { errc <- admin.Serve(newLimitListener(aln, 64)) }()
		log.WithField("admin_listen", aln.Addr().String()).Info("operator routes (/metrics, /readyz, /healthz) on their own address")
		fmt.Fprintf(stdout, "wopibridge operator routes on http://%s\n", aln.Addr())
	}
	log.WithFields(logrus.Fields{"listen": ln.Addr().String(), "public_url": public.String(),
		"storage": string(cfg.Storage.Kind), "demo": cfg.DemoMode()}).Info("wopibridge listening")
	fmt.Fprintf(stdout, "wopibridge %s listening on http://%s (public URL %s)\n", versionString(), ln.Addr(), public)

	select {
	case err := <-errc:
		if admin != nil {
			admin.Close()
		}
		hs.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if admin != nil {
		defer admin.Close()
	}
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	return nil
}

func openState(cfg *config.Config) (state.Store, error) {
	switch cfg.State.Kind {
	case config.StateBolt:
		return state.OpenBolt(cfg.State.Path)
	case config.StateRedis:
		return state.OpenRedis(cfg.State.RedisURL)
	default:
		return nil, fmt.Errorf("WOPIBRIDGE_STATE: %s state is not available in this build", cfg.State.Kind)
	}
}

func openStorage(cfg *config.Config, st state.Store, keys *officeapp.Keys) (storage.Backend, error) {
	switch cfg.Storage.Kind {
	case config.StorageFS:
		var exclude []string
		if cfg.State.Kind == config.StateBolt {
			// The default state file lives inside the data directory: hide it, and the
			// admin file a running server leaves beside it (saves.go).
			if dir, err := filepath.Abs(filepath.Dir(cfg.State.Path)); err == nil {
				if root, err := filepath.Abs(cfg.Storage.Dir); err == nil && dir == root {
					exclude = append(exclude, filepath.Base(cfg.State.Path), filepath.Base(adminFile(cfg)))
				}
			}
		}
		return fs.New(fs.Options{Root: cfg.Storage.Dir, State: st, Exclude: exclude})
	case config.StorageWOPI:
		// One client for every upstream call, its connections kept alive and reused (a
		// bridge in front of an upstream sends it a CheckFileInfo per CheckFileInfo it
		// answers). Every request carries the context of the request or job it serves.
		client := wopiclient.NewHTTPClient()
		// Every upstream call is signed with the bridge's proof keys (hosts such as
		// OpenCloud check them against the bridge's discovery), unless the operator
		// turned that off for a host that checks none.
		client.Transport.(*wopiclient.Transport).Proof = upstreamSigner(cfg, keys)
		return wopi.New(wopi.Options{
			Origins:   cfg.Storage.Origins,
			State:     st,
			HTTP:      client,
			UserAgent: "wopibridge/" + versionString(),
		})
	default:
		return nil, fmt.Errorf("WOPIBRIDGE_STORAGE: %s storage is not available in this build", cfg.Storage.Kind)
	}
}

// upstreamSigner signs the calls to upstream WOPI hosts; nil: they go unsigned
// (WOPIBRIDGE_UPSTREAM_PROOF=off).
func upstreamSigner(cfg *config.Config, keys *officeapp.Keys) *wopiclient.ProofSigner {
	if cfg.App.UnsignedUpstream {
		return nil
	}
	return keys.Signer()
}

func newLogger(lc config.LogConfig, out io.Writer) (*logrus.Logger, error) {
	log := logrus.New()
	log.SetOutput(out)
	level, err := logrus.ParseLevel(lc.Level)
	if err != nil {
		return nil, fmt.Errorf("WOPIBRIDGE_LOG_LEVEL: %w", err)
	}
	log.SetLevel(level)
	if lc.Format == "json" {
		log.SetFormatter(&logrus.JSONFormatter{})
	} else {
		log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableColors: true})
	}
	return log, nil
}
