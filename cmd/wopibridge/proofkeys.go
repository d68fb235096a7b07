package main

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/wopibridge/wopibridge/bridge/officeapp"
	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/config"
)

// proofKeysCmd runs "wopibridge proof-keys rotate": the bridge's current proof key becomes
// the old one and a new current key is made, in the state store. It opens the store
// itself: with bolt state the server holds the file, so the server is stopped first
// (the command says so when it finds the file in use); with Redis state it runs beside
// the servers, which sign with the new key within officeapp.DefaultReloadEvery.
func proofKeysCmd(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "rotate" {
		fmt.Fprintln(stderr, "usage: wopibridge proof-keys rotate [flags]   (the current proof key becomes the old one; a new one is made)")
		return 2
	}
	flags := flag.NewFlagSet("wopibridge proof-keys rotate", flag.ContinueOnError)
	flags.SetOutput(stderr)
	cfg, err := config.LoadFlags(flags, args[1:], getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "wopibridge: invalid configuration:\n%v\n", err)
		return 2
	}
	if cfg.App.ProofKeyFile != "" {
		fmt.Fprintf(stderr, "wopibridge proof-keys rotate: %v\n", officeapp.ErrKeysFromFiles)
		return 1
	}
	st, err := openState(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "wopibridge proof-keys rotate: %v\n", err)
		if cfg.State.Kind == config.StateBolt {
			fmt.Fprintln(stderr, "hint: with bolt state only one process opens the state file: stop the server, rotate, start it again (hosts keep accepting its calls: they are signed with the new key and, as X-WOPI-ProofOld, with the old one)")
		}
		return 1
	}
	defer st.Close()
	keys, err := officeapp.Rotate(st, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "wopibridge proof-keys rotate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "proof keys rotated: current %s, old %s\n", fingerprint(keys.Current), fingerprint(keys.Old))
	if cfg.State.Kind == config.StateRedis {
		fmt.Fprintf(stdout, "running servers sign with the new key within %s\n", officeapp.DefaultReloadEvery)
	}
	fmt.Fprintf(stdout, "WOPI hosts that hold the bridge's old discovery keep accepting its calls; have them reload %s/hosting/discovery before the next rotation\n",
		strings.TrimRight(cfg.PublicURL.String(), "/"))
	return 0
}

// openAppKeys are the bridge's proof keys as configured: from files, or kept in st
// (generated at the first start).
func openAppKeys(cfg *config.Config, st state.Store) (*officeapp.Keys, error) {
	k, err := officeapp.OpenKeys(officeapp.KeysOptions{
		State: st, CurrentFile: cfg.App.ProofKeyFile, OldFile: cfg.App.ProofKeyOldFile,
	})
	if err != nil {
		return nil, fmt.Errorf("the bridge's proof keys: %w", err)
	}
	return k, nil
}

// fingerprint names a public key: the first bytes of the SHA-256 of its modulus.
func fingerprint(k *rsa.PublicKey) string {
	sum := sha256.Sum256(k.N.Bytes())
	return "sha256:" + hex.EncodeToString(sum[:8])
}
