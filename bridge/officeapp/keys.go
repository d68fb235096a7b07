// Package officeapp is the bridge as an office app that WOPI hosts register by its
// discovery URL (OpenCloud, ownCloud Infinite Scale, any host that opens documents by
// posting access_token to an app's action URL): the proof keys it signs its calls to
// upstream hosts with, and the discovery document that publishes them. The entry point
// itself, which opens documents in ONLYOFFICE, lives in package bridge (app_*.go).
package officeapp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/wopiclient"
)

// Keys are kept in the state store (shared by replicas) unless they come from files.
const (
	keysBucket = "meta"
	keysKey    = "proof-keys"
	// KeyBits is the size of the keys the bridge generates.
	KeyBits = 2048
	// DefaultReloadEvery is how often a server reads the stored keys again, so that a
	// rotation made by another process (a replica, wopibridge proof-keys rotate) is
	// taken up without a restart.
	DefaultReloadEvery = 30 * time.Second
)

// ErrKeysFromFiles: keys configured as files are rotated by replacing the files.
var ErrKeysFromFiles = errors.New("the proof keys come from WOPIBRIDGE_PROOF_KEY_FILE and WOPIBRIDGE_PROOF_KEY_OLD_FILE: " +
	"rotate them by making the current file the old one and putting a new key in the current file, then restart")

// stored is the state store record: PKCS#8 PEM of both keys.
type stored struct {
	Current string    `json:"current"`
	Old     string    `json:"old"`
	Rotated time.Time `json:"rotated,omitzero"`
}

// KeysOptions say where the keys come from.
type KeysOptions struct {
	// State keeps generated keys; required unless CurrentFile is set.
	State state.Store
	// CurrentFile and OldFile are PEM files (WOPIBRIDGE_PROOF_KEY_FILE and
	// WOPIBRIDGE_PROOF_KEY_OLD_FILE); OldFile empty: the current key is the old one too.
	CurrentFile, OldFile string
	// ReloadEvery bounds how long a rotation in the store goes unnoticed;
	// DefaultReloadEvery when 0.
	ReloadEvery time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Keys are the bridge's current and old proof keys. Safe for concurrent use.
type Keys struct {
	state       state.Store // nil when the keys come from files
	reloadEvery time.Duration
	now         func() time.Time

	mu       sync.Mutex
	cur, old *rsa.PrivateKey
	loaded   time.Time
}

// OpenKeys reads the keys from the files, or from the state store. A store that holds
// none gets one at the first use (Pair, Public), not at start: generating a key takes
// a moment, and a bridge that calls no WOPI host and publishes no discovery needs none.
// The current key is then the old one too, until the first rotation.
func OpenKeys(o KeysOptions) (*Keys, error) {
	k := &Keys{state: o.State, reloadEvery: o.ReloadEvery, now: o.Now}
	if k.reloadEvery <= 0 {
		k.reloadEvery = DefaultReloadEvery
	}
	if k.now == nil {
		k.now = time.Now
	}
	if o.CurrentFile != "" {
		cur, err := readKeyFile(o.CurrentFile, "WOPIBRIDGE_PROOF_KEY_FILE")
		if err != nil {
			return nil, err
		}
		old := cur
		if o.OldFile != "" {
			if old, err = readKeyFile(o.OldFile, "WOPIBRIDGE_PROOF_KEY_OLD_FILE"); err != nil {
				return nil, err
			}
		}
		k.state, k.cur, k.old = nil, cur, old
		return k, nil
	}
	if o.OldFile != "" {
		return nil, errors.New("WOPIBRIDGE_PROOF_KEY_OLD_FILE is set without WOPIBRIDGE_PROOF_KEY_FILE")
	}
	if o.State == nil {
		return nil, errors.New("officeapp: no state store for the proof keys")
	}
	rec, err := load(o.State)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		if err := k.adopt(rec); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// FromFiles reports whether the keys come from files (and cannot be rotated here).
func (k *Keys) FromFiles() bool { return k.state == nil }

// Pair returns the current and the old private key, reading the store again when the
// last read is older than the reload interval. A store that cannot be read keeps the
// keys in hand: signing goes on.
func (k *Keys) Pair() (cur, old *rsa.PrivateKey, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cur == nil {
		rec, err := create(k.state)
		if err != nil {
			return nil, nil, err
		}
		if err := k.adoptLocked(rec); err != nil {
			return nil, nil, err
		}
	}
	if k.state != nil && k.now().Sub(k.loaded) >= k.reloadEvery {
		if rec, err := load(k.state); err == nil && rec != nil {
			_ = k.adoptLocked(rec) // a damaged record keeps the keys in hand
		}
		k.loaded = k.now()
	}
	return k.cur, k.old, nil
}

// Reload reads the stored keys now.
func (k *Keys) Reload() error {
	if k.state == nil {
		return nil
	}
	rec, err := load(k.state)
	if err != nil {
		return err
	}
	if rec == nil {
		return nil // none made yet: the first use makes them
	}
	return k.adopt(rec)
}

// Public is the public halves, as discovery publishes them.
func (k *Keys) Public() (wopiclient.ProofKeys, error) {
	cur, old, err := k.Pair()
	if err != nil {
		return wopiclient.ProofKeys{}, err
	}
	return wopiclient.ProofKeys{Current: &cur.PublicKey, Old: &old.PublicKey}, nil
}

// Signer signs upstream requests with these keys (wopiclient.Transport.Proof).
func (k *Keys) Signer() *wopiclient.ProofSigner {
	return &wopiclient.ProofSigner{Keys: k.Pair, Now: k.now}
}

func (k *Keys) adopt(rec *stored) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.adoptLocked(rec)
}

func (k *Keys) adoptLocked(rec *stored) error {
	cur, err := parseKey([]byte(rec.Current), "the stored current proof key")
	if err != nil {
		return err
	}
	old, err := parseKey([]byte(rec.Old), "the stored old proof key")
	if err != nil {
		return err
	}
	k.cur, k.old, k.loaded = cur, old, k.now()
	return nil
}

// Rotate makes the current key the old one and a new key the current one, in the
// state store, as Microsoft describes key rotation: hosts that still hold the old
// discovery accept the new calls by X-WOPI-ProofOld, and hosts that reload discovery
// accept them by X-WOPI-Proof. It returns the new public keys.
func Rotate(st state.Store, now time.Time) (wopiclient.ProofKeys, error) {
	fresh, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return wopiclient.ProofKeys{}, fmt.Errorf("generate a proof key: %w", err)
	}
	freshPEM := encodeKey(fresh)
	var rec stored
	err = st.Update(func(tx state.Tx) error {
		raw, err := tx.Get(keysBucket, keysKey)
		if err != nil {
			return err
		}
		if raw == nil {
			// Nothing to rotate from: the new key is both.
			rec = stored{Current: freshPEM, Old: freshPEM, Rotated: now.UTC()}
		} else {
			var prev stored
			if err := json.Unmarshal(raw, &prev); err != nil {
				return fmt.Errorf("the stored proof keys are damaged: %w", err)
			}
			rec = stored{Current: freshPEM, Old: prev.Current, Rotated: now.UTC()}
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return tx.Put(keysBucket, keysKey, b)
	})
	if err != nil {
		return wopiclient.ProofKeys{}, fmt.Errorf("rotate the proof keys in the state store: %w", err)
	}
	old, err := parseKey([]byte(rec.Old), "the stored old proof key")
	if err != nil {
		return wopiclient.ProofKeys{}, err
	}
	return wopiclient.ProofKeys{Current: &fresh.PublicKey, Old: &old.PublicKey}, nil
}

func load(st state.Store) (*stored, error) {
	var raw []byte
	err := st.View(func(tx state.Tx) error {
		var err error
		raw, err = tx.Get(keysBucket, keysKey)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the proof keys from the state store: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	var rec stored
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("the proof keys in the state store are damaged: %w", err)
	}
	return &rec, nil
}

// create stores a new key unless another process stored one first; the key is made
// outside the transaction, which may run more than once.
func create(st state.Store) (*stored, error) {
	key, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return nil, fmt.Errorf("generate a proof key: %w", err)
	}
	p := encodeKey(key)
	rec := &stored{Current: p, Old: p}
	err = st.Update(func(tx state.Tx) error {
		raw, err := tx.Get(keysBucket, keysKey)
		if err != nil {
			return err
		}
		if raw != nil {
			var prev stored
			if err := json.Unmarshal(raw, &prev); err != nil {
				return fmt.Errorf("the proof keys in the state store are damaged: %w", err)
			}
			rec = &prev
			return nil
		}
		rec = &stored{Current: p, Old: p}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return tx.Put(keysBucket, keysKey, b)
	})
	if err != nil {
		return nil, fmt.Errorf("store the proof keys in the state store: %w", err)
	}
	return rec, nil
}

func encodeKey(k *rsa.PrivateKey) string {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic("officeapp: marshal an RSA key: " + err.Error()) // cannot fail for RSA
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func readKeyFile(path, setting string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	return parseKey(b, setting+" ("+path+")")
}

// parseKey reads an RSA private key of at least KeyBits bits from PEM (PKCS#1
// "RSA PRIVATE KEY" or PKCS#8 "PRIVATE KEY").
func parseKey(b []byte, what string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: not PEM (expected -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)", what)
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		key = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: a %T, not an RSA key (WOPI proof keys are RSA)", what, k)
		}
		key = rk
	default:
		return nil, fmt.Errorf("%s: a PEM %q block, not a private key", what, block.Type)
	}
	if bits := key.N.BitLen(); bits < KeyBits {
		return nil, fmt.Errorf("%s: a key of %d bits; WOPI hosts want %d bits or more", what, bits, KeyBits)
	}
	return key, nil
}
