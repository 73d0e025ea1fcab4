package subscribe

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/edi"
	"github.com/linkd-dev/linkd/internal/expr"
)

// Keys under the node's store:
//
//	'S' id            → subscription JSON (with its secrets)
//	'U' id            → delivery cursor (Cursor.Encode)
//	'D' id 0x00 seq8  → dead letter JSON
const (
	prefixSub    = 'S'
	prefixCursor = 'U'
	prefixDead   = 'D'
)

// Delivery kinds.
const (
	Stream  = "stream"  // read with GET /v1/subscriptions/{id}/events (SSE)
	Webhook = "webhook" // pushed to URL, signed
)

// Body formats of a webhook delivery.
const (
	FormatJSON   = "json"                   // the Message, as JSON (the default)
	FormatIFTSTA = string(edi.FormatIFTSTA) // a UN/EDIFACT IFTSTA interchange
	FormatX12315 = string(edi.Format315)    // an ANSI X12 315 interchange
)

// Subscription is a filter over the feed with a delivery.
type Subscription struct {
	ID       string      `json:"id"`
	Name     string      `json:"name,omitempty"`
	Owner    string      `json:"owner"` // the id of the token that made it
	Filter   expr.Filter `json:"filter"`
	Delivery string      `json:"delivery"`      // stream or webhook
	URL      string      `json:"url,omitempty"` // webhook callback
	Paused   bool        `json:"paused"`
	Created  time.Time   `json:"created"`

	// Format is what a webhook delivery's body is: "" (JSON) or an EDI
	// format (iftsta, x12-315) addressed from EDISender to EDIRecipient.
	Format       string `json:"format,omitempty"`
	EDISender    string `json:"ediSender,omitempty"`
	EDIRecipient string `json:"ediRecipient,omitempty"`

	// Secrets sign webhook deliveries, newest first; during a rotation the
	// old one stays until Expires. Never shown after creation or rotation.
	Secrets []SigningSecret `json:"secrets,omitempty"`
}

// SigningSecret is one webhook secret ("whsec_…").
type SigningSecret struct {
	Secret  string    `json:"secret"`
	Expires time.Time `json:"expires,omitzero"` // zero: until rotated
}

// DeadLetter is a delivery given up after its retry horizon, or refused by
// the receiver for good.
type DeadLetter struct {
	Seq      uint64    `json:"seq"`
	Party    string    `json:"origin"`
	Index    int64     `json:"logIndex"`
	EventID  string    `json:"eventID"`
	Attempts int       `json:"attempts"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// store keeps subscriptions, cursors and dead letters in Pebble.
type store struct{ db *pebble.DB }

func subKey(id string) []byte    { return append([]byte{prefixSub}, id...) }
func cursorKey(id string) []byte { return append([]byte{prefixCursor}, id...) }
func deadPrefix(id string) []byte {
	return append(append([]byte{prefixDead}, id...), 0)
}

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return "sub_" + hex.EncodeToString(b[:])
}

func (s *store) put(sub *Subscription, cur Cursor, sync bool) error {
	v, err := json.Marshal(sub)
	if err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	b.Set(subKey(sub.ID), v, nil)
	if cur != nil {
		b.Set(cursorKey(sub.ID), []byte(cur.Encode()), nil)
	}
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	if err := b.Commit(opt); err != nil {
		return fmt.Errorf("save subscription %s: %w", sub.ID, err)
	}
	return nil
}

func (s *store) get(id string) (*Subscription, error) {
	v, closer, err := s.db.Get(subKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, linkd.Errorf(linkd.ENotFound, "no subscription %s", clip(id))
	}
	if err != nil {
		return nil, fmt.Errorf("read subscription: %w", err)
	}
	defer closer.Close()
	var sub Subscription
	if err := json.Unmarshal(v, &sub); err != nil {
		return nil, fmt.Errorf("read subscription %s: %w", id, err)
	}
	return &sub, nil
}

func (s *store) list() ([]*Subscription, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixSub}, UpperBound: []byte{prefixSub + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []*Subscription
	for ok := it.First(); ok; ok = it.Next() {
		var sub Subscription
		if err := json.Unmarshal(it.Value(), &sub); err != nil {
			return nil, fmt.Errorf("read subscription %s: %w", it.Key()[1:], err)
		}
		out = append(out, &sub)
	}
	return out, it.Error()
}

func (s *store) cursor(id string) (Cursor, error) {
	v, closer, err := s.db.Get(cursorKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return Cursor{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return DecodeCursor(string(v))
}

// saveCursor records delivery progress. It does not fsync: after a crash a
// delivery may be repeated, never skipped (at least once).
func (s *store) saveCursor(id string, cur Cursor) error {
	return s.db.Set(cursorKey(id), []byte(cur.Encode()), pebble.NoSync)
}

func (s *store) delete(id string) error {
	b := s.db.NewBatch()
	defer b.Close()
	b.Delete(subKey(id), nil)
	b.Delete(cursorKey(id), nil)
	p := deadPrefix(id)
	b.DeleteRange(p, append(bytes.Clone(p[:len(p)-1]), 1), nil)
	return b.Commit(pebble.Sync)
}

func (s *store) addDead(id string, d DeadLetter) error {
	key := binary.BigEndian.AppendUint64(deadPrefix(id), d.Seq)
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return s.db.Set(key, v, pebble.Sync)
}

func (s *store) dead(id string, limit int) ([]DeadLetter, error) {
	p := deadPrefix(id)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: append(bytes.Clone(p[:len(p)-1]), 1)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := []DeadLetter{}
	for ok := it.Last(); ok && len(out) < limit; ok = it.Prev() {
		var d DeadLetter
		if err := json.Unmarshal(it.Value(), &d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, it.Error()
}
