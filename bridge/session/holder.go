package session

import "time"

// Holding describes the Docs API editing session open on a file.
type Holding struct {
	Key     string    // the session's document key
	Users   []string  // its editors, as DS last reported them
	Started time.Time // when the session took the file's lock
}

// Holding returns the Docs API session open on fileID; ok is false when none is.
func (m *Manager) Holding(fileID string) (h Holding, ok bool, err error) {
	sess, err := m.session(fileID)
	if err != nil || sess == nil {
		return Holding{}, false, err
	}
	return Holding{Key: sess.Key, Users: sess.Users, Started: sess.Started}, true, nil
}
