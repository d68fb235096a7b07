package session

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/wopibridge/wopibridge/bridge/state"
	"github.com/wopibridge/wopibridge/bridge/storage"
)

// Saves act for the people who made them. With a storage that decides per user (an
// upstream WOPI host, whose tokens belong to users), a Docs API save is written with
// the credential of a user of its session who may write: the callback's users first
// (DS names the last editor first), then the editors of status 1, then the launch
// users the key was handed to in edit mode. A user whose credential storage refuses is
// passed over; when every one is refused (or none is known) the save waits in the
// spool (ErrNoEditor, event no_editor) until one of them opens the file again. It is
// never written with the credential of someone outside the session.

// AddEditor records that user was handed key in edit mode.
func (m *Manager) AddEditor(key, user string) error {
	if user == "" {
		return nil
	}
	if k, err := m.keyOf(key); err == nil && slices.Contains(k.Editors, user) {
		return nil // known already: no write
	}
	return m.o.State.Update(func(tx state.Tx) error {
		k, err := getKey(tx, key)
		if err != nil || k == nil || slices.Contains(k.Editors, user) {
			return err
		}
		k.Editors = append(k.Editors, user)
		if len(k.Editors) > 64 {
			k.Editors = k.Editors[len(k.Editors)-64:]
		}
		return putJSON(tx, bucketKeys, key, k)
	})
}

// perUser says whether storage decides per user (its operations need a user).
func (m *Manager) perUser() bool {
	_, ok := m.o.Storage.(storage.Permissioner)
	return ok
}

// editorsOf lists, without repeats, the users a save of key may act for: callers
// first (the callback's users), then the session's, then the key's.
func editorsOf(callers []string, sess *sessionRec, k *keyRec) []string {
	var out []string
	add := func(us []string) {
		for _, u := range us {
			if u != "" && !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	add(callers)
	if sess != nil {
		add(sess.Users)
	}
	if k != nil {
		add(k.Editors)
	}
	return out
}

// sessionEditors are the users of a session and of its key.
func (m *Manager) sessionEditors(sess *sessionRec) []string {
	k, _ := m.keyOf(sess.Key)
	return editorsOf(nil, sess, k)
}

// asEditor is ctx acting for the first of users (storage that does not decide per
// user ignores it).
func (m *Manager) asEditor(ctx context.Context, users []string) context.Context {
	if len(users) == 0 {
		return ctx
	}
	return storage.WithUser(ctx, users[0])
}

// asEditors runs write with ctx acting for each of users in turn, until storage does
// not refuse that user's credential. It returns the context that worked. With a
// per-user storage and nobody left, the error is ErrNoEditor (and the last refusal).
func (m *Manager) asEditors(ctx context.Context, users []string, write func(context.Context) error) (context.Context, error) {
	if len(users) == 0 {
		if m.perUser() {
			return ctx, fmt.Errorf("%w: no user of the session is known", ErrNoEditor)
		}
		return ctx, write(ctx)
	}
	var err error
	for _, u := range users {
		uctx := storage.WithUser(ctx, u)
		if err = write(uctx); !errors.Is(err, storage.ErrUnauthorized) {
			return uctx, err
		}
	}
	return ctx, fmt.Errorf("%w (%d tried): %w", ErrNoEditor, len(users), err)
}
