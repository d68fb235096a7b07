package bridge

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/wopibridge/wopibridge/bridge/state"
)

// UserInfo (PUT_USER_INFO) is kept per user and file in the state store.
const (
	userInfoBucket = "userinfo"
	maxUserInfo    = 1024 // WOPI's limit on the UserInfo string
)

func userInfoKey(user, fileID string) string {
	// Length-prefixed so that no pair of ids can collide.
	return strconv.Itoa(len(user)) + ":" + user + "/" + fileID
}

func (s *Server) userInfo(user, fileID string) (string, error) {
	var v []byte
	err := s.state.View(func(tx state.Tx) error {
		var err error
		v, err = tx.Get(userInfoBucket, userInfoKey(user, fileID))
		return err
	})
	return string(v), err
}

func (s *Server) setUserInfo(user, fileID, value string) error {
	return s.state.Update(func(tx state.Tx) error {
		if value == "" {
			return tx.Delete(userInfoBucket, userInfoKey(user, fileID))
		}
		return tx.Put(userInfoBucket, userInfoKey(user, fileID), []byte(value))
	})
}

// readSmallBody reads a body that is a short string, never a document.
func readSmallBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, userErr(errBadRequest, "the body is longer than %d bytes", limit)
	}
	return b, err
}
