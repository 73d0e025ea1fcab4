package partylog

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/linkd-dev/linkd"
)

// Key layout. Every key of one log carries its 4-byte log number, so one
// store holds a node's own log (number 0) and the replicas of its peers'
// logs (see Logs). Index keys put the log number after the event time so a scan of one
// index walks every log's events in event-time order.
//
//	'm' log                                  → size(8) lastHLC(8)
//	'm' log 4                                → indexed size(8): the id and
//	                                           index entries of every event
//	                                           below it are in the store
//	                                           (see pendingIndex)
//	'h' log storedHashIndex(8)               → hash(32), for levels ≥ 1
//	'e' log index(8)                         → leafHash(32) salt(32) canonical event,
//	                                           or leafHash(32) alone in a replica that holds only the commitment
//	'c' log size(8)                          → signed checkpoint note
//	'i' log eventID                          → index(8)
//	'x' kind value 0x00 time(8) log(4) index(8) → (empty)
//	'j' log size(8)                          → the id and index entries of the group
//	                                           that grew the log to size, until flushed,
//	                                           in stores written before the indexed size
//	                                           (see drainJournal)
//	'n' partyID                              → log number(4) of its replica
//
// Index entries and (legacy) journal values are only ever scanned, never
// looked up one by one, and the store's table filters leave them out
// (store.ScanOnlyPrefixes); a lookup of one would still find it.
//
// Id entries written before the content digest left them are index(8)
// contentDigest(32); reads accept both. An event's record already says what
// its content is, and appends almost never repeat an id, so the digest was
// 32 bytes per event kept for the rare retry.
const (
	prefixMeta       = 'm'
	prefixHash       = 'h'
	prefixEvent      = 'e'
	prefixCheckpoint = 'c'
	prefixID         = 'i'
	prefixIndex      = 'x'
)

// space is one log's key namespace in a store: its own log or a replica of
// a peer's. Every key of the log carries num.
type space struct {
	db     *pebble.DB
	num    uint32
	sealer Sealer        // nil: records are kept in the clear
	own    bool          // the node's own log, where a record held as a commitment was erased
	ix     *pendingIndex // the store's index entries not yet flushed; shared by its logs
}

// Index names a secondary index.
type Index byte

const (
	ByBooking           Index = 'b' // carrierBookingReference
	ByTransportDocument Index = 't' // transportDocumentReference (B/L number)
	ByEquipment         Index = 'q' // equipmentReference (container number)
	ByTypeCode          Index = 'y' // eventType/code, e.g. EQUIPMENT/LOAD
	ByLocation          Index = 'l' // UN/LOCODE of eventLocation or transportCall.location
	ByTime              Index = 'm' // every event, by event time
)

// ParseIndex maps a query field name to its index.
func ParseIndex(name string) (Index, bool) {
	switch name {
	case "carrierBookingReference", "booking":
		return ByBooking, true
	case "transportDocumentReference", "bl":
		return ByTransportDocument, true
	case "equipmentReference", "container":
		return ByEquipment, true
	case "eventTypeCode", "code":
		return ByTypeCode, true
	case "UNLocationCode", "location":
		return ByLocation, true
	case "time", "":
		return ByTime, true
	}
	return 0, false
}

// recordHeader is the leaf hash and salt in front of an event record's
// canonical encoding. Keeping the leaf hash there, rather than under its own
// hash key, saves one key per event on the write path.
const recordHeader = 32 + linkd.SaltSize

// idValueLen is the length of an id entry's value: the event's log index.
// Entries written before the value shrank also carry the content digest
// (legacyIDValueLen); reads accept both.
const (
	idValueLen       = 8
	legacyIDValueLen = 8 + 32
)

func (l *space) metaKey() []byte { return l.key(prefixMeta, 0) }

// indexedKey is the key of log num's indexed size.
func indexedKey(num uint32) []byte {
	k := binary.BigEndian.AppendUint32([]byte{prefixMeta}, num)
	return binary.BigEndian.AppendUint64(k, 4)
}

func (l *space) key(prefix byte, n uint64) []byte { return l.appendKey(make([]byte, 0, 13), prefix, n) }

// appendKey appends the key prefix log n to k.
func (l *space) appendKey(k []byte, prefix byte, n uint64) []byte {
	k = append(k, prefix)
	k = binary.BigEndian.AppendUint32(k, l.num)
	return binary.BigEndian.AppendUint64(k, n)
}

func (l *space) hashKey(i int64) []byte       { return l.key(prefixHash, uint64(i)) }
func (l *space) eventKey(i int64) []byte      { return l.key(prefixEvent, uint64(i)) }
func (l *space) checkpointKey(s int64) []byte { return l.key(prefixCheckpoint, uint64(s)) }

func (l *space) idKey(id string) []byte { return l.appendIDKey(make([]byte, 0, 5+len(id)), id) }

func (l *space) appendIDKey(k []byte, id string) []byte {
	k = append(k, prefixID)
	k = binary.BigEndian.AppendUint32(k, l.num)
	return append(k, id...)
}

// indexPrefix is the key prefix of one value of one index.
func indexPrefix(ix Index, value string) []byte {
	k := make([]byte, 0, 3+len(value))
	k = append(k, prefixIndex, byte(ix))
	k = append(k, value...)
	return append(k, 0)
}

// timeKey maps an instant to 8 bytes that sort as the instants do.
func timeKey(t time.Time) uint64 { return uint64(t.UnixNano()) ^ (1 << 63) }

const positionLen = 8 + 4 + 8 // time, log, index

func appendPosition(k []byte, t uint64, log uint32, index int64) []byte {
	k = binary.BigEndian.AppendUint64(k, t)
	k = binary.BigEndian.AppendUint32(k, log)
	return binary.BigEndian.AppendUint64(k, uint64(index))
}

// appendPairPrefix appends the key prefix of one (index, value) pair to k;
// for an event's pairs it is indexPrefix(ix, value).
func appendPairPrefix(k []byte, p indexPair) []byte {
	k = append(k, prefixIndex, byte(p.ix))
	k = append(k, p.a...)
	if p.ix == ByTypeCode {
		k = append(append(k, '/'), p.b...)
	}
	return append(k, 0)
}

// An event is filed under its booking, B/L and container references (each
// when set), its type and code ("EQUIPMENT/LOAD"), its location (when it has
// one) and its event time; see writeSet.event.

// eventLocation is the UN/LOCODE an event is filed under: its own location's,
// or else its transport call's.
func eventLocation(e *linkd.Event) string {
	if e.EventLocation != nil && e.EventLocation.UNLocationCode != "" {
		return e.EventLocation.UNLocationCode
	}
	if e.TransportCall != nil && e.TransportCall.Location != nil {
		return e.TransportCall.Location.UNLocationCode
	}
	return ""
}

func eventCode(e *linkd.Event) string { return e.TypeCode() }

// A Cursor marks where a page of a scan ended. It is opaque to clients.
func encodeCursor(pos []byte) string { return base64.RawURLEncoding.EncodeToString(pos) }

func decodeCursor(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != positionLen {
		return nil, linkd.Errorf(linkd.EInvalid, "malformed paging cursor %q: pass back the cursor of the previous page unchanged", clip(s))
	}
	return b, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func be64(b []byte) int64 { return int64(binary.BigEndian.Uint64(b)) }

func mustLen(b []byte, n int, what string) error {
	if len(b) != n {
		return fmt.Errorf("corrupt %s: %d bytes, want %d", what, len(b), n)
	}
	return nil
}
