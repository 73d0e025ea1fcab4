package faultnet

import (
	"slices"
	"testing"
	"time"
)

type fate struct {
	delay time.Duration
	drop  bool
}

func schedule(t *testing.T, seed int64) []fate {
	t.Helper()
	p, err := New("127.0.0.1:1", WithSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := p.Seed(); got != seed {
		t.Errorf("Seed = %d, want %d", got, seed)
	}
	p.SetDelay(10*time.Millisecond, 10*time.Millisecond)
	p.SetDropRate(0.3)
	fates := make([]fate, 100)
	for i := range fates {
		fates[i].delay, fates[i].drop = p.roll()
	}
	return fates
}

func TestSeedReplaysSchedule(t *testing.T) {
	a, b := schedule(t, 42), schedule(t, 42)
	if !slices.Equal(a, b) {
		t.Errorf("same seed gave different schedules:\n%v\n%v", a, b)
	}
	if c := schedule(t, 43); slices.Equal(a, c) {
		t.Error("different seeds gave the same schedule")
	}
	drops := 0
	for _, f := range a {
		if f.drop {
			drops++
		} else if f.delay < 0 || f.delay > 20*time.Millisecond {
			t.Errorf("delay %v outside 10ms±10ms", f.delay)
		}
	}
	if drops == 0 || drops == len(a) {
		t.Errorf("%d of %d chunks dropped at rate 0.3", drops, len(a))
	}
}
