package events

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/wopibridge/wopibridge/bridge/state"
)

// bucketPrefix starts the name of every file's events bucket.
const bucketPrefix = "events.f."

// metaKey holds "<first> <last>" in a file's bucket: the oldest Seq kept (0 when none
// is) and the last Seq given. It sorts after every Seq key.
const metaKey = "meta"

// seqDigits pads Seq keys so that bytewise key order is Seq order.
const seqDigits = 20

// EventsBucket is the state bucket holding fileID's events.
func EventsBucket(fileID string) string { return bucketPrefix + fileID }

func seqKey(seq uint64) string {
	s := strconv.FormatUint(seq, 10)
	return strings.Repeat("0", seqDigits-len(s)) + s
}

func parseSeqKey(k string) (uint64, bool) {
	if len(k) != seqDigits {
		return 0, false
	}
	n, err := strconv.ParseUint(k, 10, 64)
	return n, err == nil
}

type meta struct{ first, last uint64 }

func (m meta) encode() []byte {
	return fmt.Appendf(nil, "%d %d", m.first, m.last)
}

func readMeta(tx state.Tx, bucket string) (meta, error) {
	v, err := tx.Get(bucket, metaKey)
	if err != nil || v == nil {
		return meta{}, err
	}
	var m meta
	if _, err := fmt.Sscanf(string(v), "%d %d", &m.first, &m.last); err != nil {
		return meta{}, fmt.Errorf("events: bucket %s: bad %s %q: %w", bucket, metaKey, v, err)
	}
	return m, nil
}

func encode(e Event) ([]byte, error) { return json.Marshal(e) }

func decode(v []byte) (Event, error) {
	var e Event
	err := json.Unmarshal(v, &e)
	return e, err
}
