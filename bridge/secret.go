package bridge

import (
	"crypto/rand"
	"fmt"

	"github.com/wopibridge/wopibridge/bridge/state"
)

// The bridge's signing key, when not configured, is generated once and kept in the state
// store so that tokens and signed URLs survive a restart and are shared by replicas.
const (
	metaBucket = "meta"
	secretKey  = "secret"
	secretLen  = 32
)

// loadSecret returns the stored secret, storing a new random one if there is none.
func loadSecret(st state.Store) ([]byte, error) {
	fresh := make([]byte, secretLen)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("generate secret: %w", err)
	}
	var secret []byte
	err := st.Update(func(tx state.Tx) error {
		cur, err := tx.Get(metaBucket, secretKey)
		if err != nil {
			return err
		}
		if len(cur) > 0 {
			secret = cur
			return nil
		}
		secret = fresh
		return tx.Put(metaBucket, secretKey, fresh)
	})
	if err != nil {
		return nil, fmt.Errorf("load or store the bridge secret in the state store: %w", err)
	}
	return secret, nil
}
