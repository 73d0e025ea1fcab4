package edi

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/linkd-dev/linkd"
)

// Format is an outbound EDI format.
type Format string

// Formats a subscription may deliver besides JSON.
const (
	FormatIFTSTA Format = "iftsta"  // UN/EDIFACT IFTSTA D.00B
	Format315    Format = "x12-315" // ANSI X12 315 (004010)
)

// ContentType is the media type of a format's bodies (RFC 1767).
func (f Format) ContentType() string {
	if f == Format315 {
		return "application/EDI-X12"
	}
	return "application/EDIFACT"
}

// Envelope addresses an outbound interchange.
type Envelope struct {
	// Sender and Recipient are the interchange's parties: UNB 0004 and
	// 0010 (at most 35 characters, qualifier ZZZ) or ISA06 and ISA08 (at
	// most 15, qualifier ZZ).
	Sender, Recipient string
	// ControlNumber is UNB 0020 or ISA13 (and GS06): up to 9 digits.
	ControlNumber string
	// Time is when the interchange is prepared; zero means now.
	Time time.Time
	// Newlines ends each segment with a line break as well.
	Newlines bool
}

// ErrUnrepresentable is wrapped by the error Representable returns for an
// event a format cannot express.
var ErrUnrepresentable = errors.New("edi: the format cannot express this event")

// Representable says whether f can express e, and if not, why (an error
// wrapping ErrUnrepresentable).
func Representable(f Format, e *linkd.Event) error {
	var err error
	switch f {
	case FormatIFTSTA:
		_, err = outCode(f, e)
	case Format315:
		_, err = outCode(f, e)
	default:
		return fmt.Errorf("edi: unknown format %q: want %s or %s", f, FormatIFTSTA, Format315)
	}
	return err
}

// outCode is the status code f expresses e with: the first of the
// format's outbound codes whose mapping reads back as e's type, code,
// document type and (where the format fixes them) mode and classifier.
func outCode(f Format, e *linkd.Event) (string, error) {
	codes, table := iftstaOut, Rec24
	if f == Format315 {
		codes, table = x12315Out, Ocean
	}
	mode := ""
	if e.TransportCall != nil {
		mode = e.TransportCall.ModeOfTransport
	}
	for _, c := range codes {
		m := table[c]
		if m.Type != e.EventType || m.Code != e.TypeCode() || m.DocType != e.DocumentTypeCode {
			continue
		}
		if m.Mode != "" && m.Mode != mode {
			continue // the code names a mode the event does not say
		}
		if f == Format315 && firstOf(m.Classifier, "ACT") != e.EventClassifierCode {
			continue
		}
		if f == FormatIFTSTA && e.EventType == linkd.Transport && mode == "" {
			continue
		}
		return c, nil
	}
	what := string(e.EventType) + " " + e.TypeCode()
	if e.DocumentTypeCode != "" {
		what += " of " + e.DocumentTypeCode
	}
	return "", fmt.Errorf("%w: %s has no %s status code (%s %s)", ErrUnrepresentable, what, f, e.EventClassifierCode, mode)
}

// ControlNumber derives a 9-digit control number from seed, the same for
// the same seed (a webhook delivery's id, so every retry carries the same
// number).
func ControlNumber(seed string) string {
	h := sha256.Sum256([]byte(seed))
	return fmt.Sprintf("%09d", binary.BigEndian.Uint64(h[:8])%1_000_000_000)
}

// Render writes recs as one interchange of format f, one message per
// event. Events f cannot express are left out; n counts those written, and
// data is nil when n is 0. The error is about the envelope.
func Render(f Format, recs []linkd.Recorded, env Envelope) (data []byte, n int, err error) {
	switch f {
	case FormatIFTSTA:
		return renderIFTSTA(recs, env)
	case Format315:
		return render315(recs, env)
	}
	return nil, 0, fmt.Errorf("edi: unknown format %q: want %s or %s", f, FormatIFTSTA, Format315)
}

// CheckEnvelope says what is wrong with env for format f, nil if nothing.
func CheckEnvelope(f Format, env Envelope) error {
	max := 35
	if f == Format315 {
		max = 15
	}
	for _, p := range []struct{ name, v string }{{"sender", env.Sender}, {"recipient", env.Recipient}} {
		switch {
		case p.v == "":
			return fmt.Errorf("edi: the interchange %s is empty", p.name)
		case len(p.v) > max:
			return fmt.Errorf("edi: the interchange %s %q has %d characters; %s holds at most %d", p.name, clip(p.v), len(p.v), f, max)
		}
		for i := 0; i < len(p.v); i++ {
			if c := p.v[i]; c < 0x21 || c > 0x7e || strings.IndexByte("*~>^:+?'", c) >= 0 {
				return fmt.Errorf("edi: the interchange %s %q: use letters, digits and - . _ / only", p.name, clip(p.v))
			}
		}
	}
	if c := env.ControlNumber; c != "" && (len(c) > 9 || !isDigits(c)) {
		return fmt.Errorf("edi: control number %q: want 1 to 9 digits", clip(c))
	}
	return nil
}

func (env Envelope) prepared() time.Time {
	if env.Time.IsZero() {
		return time.Now().UTC()
	}
	return env.Time.UTC()
}

func (env Envelope) control() string {
	if env.ControlNumber == "" {
		return "000000001"
	}
	return fmt.Sprintf("%09s", env.ControlNumber)
}

// edifactTime writes t in format 304 or 303 (with seconds when it has any)
// with its zone, so a reader gets the same instant and offset back.
func edifactTime(t time.Time) (string, string) {
	_, off := t.Zone()
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	zone := fmt.Sprintf("%s%02d%02d", sign, off/3600, off%3600/60)
	if off == 0 {
		zone = "UTC"
	}
	if t.Second() != 0 {
		return t.Format("20060102150405") + zone, "304"
	}
	return t.Format("200601021504") + zone, "303"
}

// dtmQualifier is the DTM qualifier that reads back as e's classifier.
func dtmQualifier(e *linkd.Event) string {
	depa := e.EventType == linkd.Transport && e.TransportEventTypeCode == "DEPA"
	switch e.EventClassifierCode {
	case "EST":
		if depa {
			return "133"
		}
		return "132"
	case "PLN":
		if depa {
			return "189"
		}
		return "232"
	}
	if e.EventType == linkd.Transport {
		if depa {
			return "186"
		}
		return "178"
	}
	return "7"
}

// latin1Only reports whether every event's text fits ISO 8859-1, so the
// interchange can be UNOC (syntax 3); else it is UNOY (UTF-8, syntax 4).
func latin1Only(recs []linkd.Recorded) bool {
	ok := true
	check := func(s string) {
		for _, r := range s {
			if r > 0xFF || (r >= 0x80 && r < 0xA0) {
				ok = false
			}
		}
	}
	for i := range recs {
		e := &recs[i].Event
		for _, s := range []string{e.Reason, e.CarrierBookingReference, e.TransportDocumentReference} {
			check(s)
		}
		for _, r := range e.References {
			check(r.ReferenceValue)
		}
		if l := location(e); l != nil {
			check(l.LocationName)
		}
		if tc := e.TransportCall; tc != nil {
			check(tc.CarrierVoyageNumber)
			if tc.Vessel != nil {
				check(tc.Vessel.VesselName)
			}
		}
	}
	return ok
}

// location is where e happened: its transport call's place for transport
// events, else its event location.
func location(e *linkd.Event) *linkd.Location {
	if e.EventType == linkd.Transport && e.TransportCall != nil && e.TransportCall.Location != nil {
		return e.TransportCall.Location
	}
	if e.EventLocation != nil {
		return e.EventLocation
	}
	if e.TransportCall != nil {
		return e.TransportCall.Location
	}
	return nil
}

func renderIFTSTA(recs []linkd.Recorded, env Envelope) ([]byte, int, error) {
	if err := CheckEnvelope(FormatIFTSTA, env); err != nil {
		return nil, 0, err
	}
	var codes []string
	var keep []*linkd.Event
	for i := range recs {
		if c, err := outCode(FormatIFTSTA, &recs[i].Event); err == nil {
			codes, keep = append(codes, c), append(keep, &recs[i].Event)
		}
	}
	if len(keep) == 0 {
		return nil, 0, nil
	}
	charset, version := "UNOC", "3"
	if !latin1Only(recs) {
		charset, version = "UNOY", "4"
	}
	d := defaultEDIFACT
	if version == "4" {
		d.Repetition = '*'
	}
	w := &edifactWriter{d: d, nl: env.Newlines, latin1: charset == "UNOC"}
	w.una()
	t := env.prepared()
	date := t.Format("060102")
	if version == "4" {
		date = t.Format("20060102")
	}
	ctrl := env.control()
	w.seg("UNB", []string{charset, version}, []string{env.Sender, "ZZZ"}, []string{env.Recipient, "ZZZ"}, []string{date, t.Format("1504")}, []string{ctrl})
	for n, e := range keep {
		w.n = 0
		ref := strconv.Itoa(n + 1)
		w.seg("UNH", []string{ref}, []string{"IFTSTA", "D", "00B", "UN"})
		w.seg("BGM", []string{"23"}, []string{strings.ReplaceAll(e.EventID, "-", "")}, []string{"9"})
		w.seg("CNI", []string{"1"}, []string{e.TransportDocumentReference})
		w.seg("STS", []string{"1"}, []string{codes[n]})
		if e.CarrierBookingReference != "" {
			w.seg("RFF", []string{"BN", e.CarrierBookingReference})
		}
		for _, r := range e.References {
			w.seg("RFF", []string{ediRef(r.ReferenceType, rffRefs), r.ReferenceValue})
		}
		v, f := edifactTime(e.EventDateTime.Time)
		w.seg("DTM", []string{dtmQualifier(e), v, f})
		if l := location(e); l != nil {
			loc := [][]string{{"175"}, {l.UNLocationCode, "", "", l.LocationName}}
			if l.UNLocationCode != "" {
				loc[1][1], loc[1][2] = "139", "6"
			}
			switch l.FacilityCodeListProvider {
			case "SMDG":
				loc = append(loc, []string{l.FacilityCode, "TER", "306"})
			case "BIC":
				loc = append(loc, []string{l.FacilityCode, "BIC", "ZZZ"})
			}
			w.seg("LOC", loc...)
		}
		if e.EventType == linkd.Shipment && e.Reason != "" {
			writeFTX(w, e.Reason)
		}
		if tc := e.TransportCall; tc != nil && e.EventType != linkd.Shipment && tc.ModeOfTransport != "" {
			tdt := [][]string{{"20"}, {tc.CarrierVoyageNumber}, {modeCode[tc.ModeOfTransport]}, nil, nil, nil, nil, nil}
			if vs := tc.Vessel; vs != nil {
				switch {
				case vs.VesselIMONumber != "":
					tdt[7] = []string{vs.VesselIMONumber, "146", "11", vs.VesselName, vs.VesselFlag}
				case vs.VesselCallSign != "":
					tdt[7] = []string{vs.VesselCallSign, "103", "", vs.VesselName, vs.VesselFlag}
				default:
					tdt[7] = []string{"", "", "", vs.VesselName, vs.VesselFlag}
				}
			}
			w.seg("TDT", tdt...)
		}
		if e.EquipmentReference != "" {
			full := ""
			switch e.EmptyIndicatorCode {
			case "EMPTY":
				full = "4"
			case "LADEN":
				full = "5"
			}
			iso := []string{e.ISOEquipmentCode}
			if e.ISOEquipmentCode != "" {
				iso = append(iso, "6346", "5")
			}
			w.seg("EQD", []string{"CN"}, []string{e.EquipmentReference}, iso, nil, nil, []string{full})
		}
		w.seg("UNT", []string{strconv.Itoa(w.n + 1)}, []string{ref})
	}
	w.seg("UNZ", []string{strconv.Itoa(len(keep))}, []string{ctrl})
	return w.b, len(keep), nil
}

// writeFTX writes text as FTX segments of up to five 512-character parts.
func writeFTX(w *edifactWriter, text string) {
	const part = 512
	var parts []string
	for len(text) > 0 {
		n := cut(text, part)
		parts = append(parts, text[:n])
		text = text[n:]
	}
	for len(parts) > 0 {
		n := min(5, len(parts))
		w.seg("FTX", []string{"AAI"}, nil, nil, parts[:n])
		parts = parts[n:]
	}
}

// cut returns where to cut s to at most n bytes without splitting a
// character (or n, when s is not UTF-8 there).
func cut(s string, n int) int {
	if len(s) <= n {
		return len(s)
	}
	for k := n; k > n-utf8.UTFMax && k > 0; k-- {
		if utf8.RuneStart(s[k]) {
			return k
		}
	}
	return n
}

func render315(recs []linkd.Recorded, env Envelope) ([]byte, int, error) {
	if err := CheckEnvelope(Format315, env); err != nil {
		return nil, 0, err
	}
	var codes []string
	var keep []*linkd.Event
	for i := range recs {
		if c, err := outCode(Format315, &recs[i].Event); err == nil {
			codes, keep = append(codes, c), append(keep, &recs[i].Event)
		}
	}
	if len(keep) == 0 {
		return nil, 0, nil
	}
	d := Delimiters{Element: '*', Component: '>', Segment: '~'}
	w := &x12Writer{d: d, nl: env.Newlines}
	t := env.prepared()
	ctrl := env.control()
	w.isa([16]string{"00", "", "00", "", "ZZ", env.Sender, "ZZ", env.Recipient, t.Format("060102"), t.Format("1504"), "U", "00401", ctrl, "0", "P", ""})
	gctrl := strings.TrimLeft(ctrl, "0")
	if gctrl == "" {
		gctrl = "1"
	}
	w.seg("GS", e1("QO", env.Sender, env.Recipient, t.Format("20060102"), t.Format("1504"), gctrl, "X", "004010")...)
	for n, e := range keep {
		w.n = 0
		ref := fmt.Sprintf("%04d", n+1)
		w.seg("ST", e1("315", ref)...)
		et := e.EventDateTime.Time
		clock := et.Format("1504")
		if et.Second() != 0 {
			clock = et.Format("150405")
		}
		b4 := make([]string, 13)
		b4[2], b4[3], b4[4] = codes[n], et.Format("20060102"), clock
		if l := location(e); l != nil {
			b4[5] = firstOf(l.LocationName, l.UNLocationCode)
			b4[5] = b4[5][:cut(b4[5], 30)] // B406 holds 30
			if l.UNLocationCode != "" {
				b4[10], b4[11] = l.UNLocationCode, "UN"
			}
		}
		if c := e.EquipmentReference; len(c) == 11 {
			b4[6], b4[7], b4[12] = c[:4], c[4:10], c[10:]
			switch e.EmptyIndicatorCode {
			case "EMPTY":
				b4[8] = "E"
			case "LADEN":
				b4[8] = "L"
			}
			b4[9] = e.ISOEquipmentCode
		}
		w.seg("B4", e1(b4...)...)
		if e.CarrierBookingReference != "" {
			w.seg("N9", e1("BN", e.CarrierBookingReference)...)
		}
		if e.TransportDocumentReference != "" {
			w.seg("N9", e1("BM", e.TransportDocumentReference)...)
		}
		for _, r := range e.References {
			w.seg("N9", e1(ediRef(r.ReferenceType, x12Refs), r.ReferenceValue)...)
		}
		if tc := e.TransportCall; tc != nil && (tc.Vessel != nil || tc.CarrierVoyageNumber != "") {
			q2 := make([]string, 13)
			q2[8] = tc.CarrierVoyageNumber
			if vs := tc.Vessel; vs != nil {
				q2[1], q2[12] = vs.VesselFlag, vs.VesselName
				if vs.VesselIMONumber != "" {
					q2[0], q2[11] = vs.VesselIMONumber, "L"
				}
			}
			w.seg("Q2", e1(q2...)...)
		}
		w.seg("SE", e1(strconv.Itoa(w.n+1), ref)...)
	}
	w.seg("GE", e1(strconv.Itoa(len(keep)), gctrl)...)
	w.seg("IEA", e1("1", ctrl)...)
	return w.b, len(keep), nil
}
