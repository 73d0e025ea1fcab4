package partylog

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/store"
)

// sampleBatch encodes appends of events the way a member prepares them.
func sampleBatch(evs ...[]linkd.Event) []byte {
	b := []byte{batchVersion, kindAppend}
	b = binary.AppendUvarint(b, uint64(len(evs)))
	for _, req := range evs {
		b = binary.AppendUvarint(b, uint64(len(req)))
		for i := range req {
			e := req[i]
			e.Origin = terminal.ID
			if e.EventID == "" {
				e.EventID = linkd.DeriveEventID(terminal.ID, &e)
			}
			canon := linkd.AppendCanonical(nil, &e)
			b = binary.AppendUvarint(b, uint64(len(canon)))
			b = append(b, canon...)
			b = append(b, bytes.Repeat([]byte{7}, linkd.SaltSize)...)
		}
	}
	return b
}

// Batches come from the members of one party, but a decoder of bytes off
// the network must never panic, and what it accepts must be whole.
func FuzzDecodeAppends(f *testing.F) {
	f.Add(sampleBatch(events(1, 2), events(2, 1))[2:])
	f.Add([]byte{1, 1, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		reqs, salts, err := decodeAppends(b, terminal.ID, nil)
		if err != nil {
			return
		}
		if len(salts) != len(reqs) {
			t.Fatalf("%d appends, %d salt lists", len(reqs), len(salts))
		}
		for k, r := range reqs {
			for _, s := range salts[k] {
				if len(s) != linkd.SaltSize {
					t.Fatalf("salt of %d bytes", len(s))
				}
			}
			if r.err != nil {
				continue
			}
			for _, e := range r.events {
				if e.id == "" || len(e.canon) < 9 {
					t.Fatalf("accepted an event without an id or a stamp: %+v", e)
				}
			}
		}
	})
}

// A snapshot that restores is a whole, consistent log; anything else is
// refused, never half applied.
func FuzzRestore(f *testing.F) {
	var snap []byte
	{
		g := &fakeGroup{}
		m := &fakeMember{}
		db, err := store.Open("", store.Options{FS: vfs.NewMem()})
		if err != nil {
			f.Fatal(err)
		}
		l, err := OpenReplicated(db, Config{Self: terminal, SigningKey: testSKey}, ReplicationConfig{Proposer: g})
		if err != nil {
			f.Fatal(err)
		}
		m.db, m.log = db, l
		g.members = []*fakeMember{m}
		if _, err := l.Append(context.Background(), events(1, 3)); err != nil {
			f.Fatal(err)
		}
		snap = snapshotBytes(f, l)
		l.Close()
		db.Close()
	}
	f.Add(snap)
	f.Add([]byte(snapshotMagic + "\x00\x00\x00\x00\x00\x00\x00\x01\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		db, err := store.Open("", store.Options{FS: vfs.NewMem()})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		l, err := OpenReplicated(db, Config{Self: terminal, SigningKey: testSKey}, ReplicationConfig{Proposer: &fakeGroup{}})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if err := l.Restore(bytes.NewReader(b)); err != nil {
			return
		}
		if _, err := l.Audit(context.Background(), nil); err != nil {
			t.Fatalf("a restored snapshot does not audit: %v", err)
		}
	})
}
