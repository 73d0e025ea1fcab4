package edi

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// Report is the answer of POST /v1/edi: what the node made of an
// interchange, the acknowledgement to send back to its sender, and for an
// accepted one the acks of its events. The server and the Go client both
// use it.
type Report struct {
	Summary
	Acknowledgement string      `json:"acknowledgement,omitempty"` // the CONTRL, 997, 999 or TA1 interchange, as text
	Acks            []linkd.Ack `json:"acks,omitempty"`            // one per event, in order
	Size            int64       `json:"size,omitempty"`            // the log's size once they were durable
}

// Rejection is the body of a refused POST /v1/edi: an error body (code
// invalid, each problem with its place) with the report and its negative
// acknowledgement.
type Rejection struct {
	Error linkd.ErrorDetail `json:"error"`
	EDI   Report            `json:"edi"`
}

// NewReport returns the report of a translation.
func NewReport(res *Result) Report {
	return Report{Summary: res.Summary, Acknowledgement: string(res.Ack)}
}

// Rejected returns the error body of a refused interchange.
func Rejected(res *Result) Rejection {
	probs := make([]linkd.Problem, len(res.Problems))
	for i, p := range res.Problems {
		probs[i] = linkd.Problem{Field: p.Field, Reason: p.Reason}
	}
	msg := "the interchange was refused whole: each problem is listed with its segment, element and component"
	if len(probs) == 1 {
		msg = "the interchange was refused: " + probs[0].String()
	}
	return Rejection{Error: linkd.ErrorDetail{Code: linkd.EInvalid, Message: msg, Problems: probs}, EDI: NewReport(res)}
}

// ParseZone reads the zone partners agreed for times without one: an
// offset (+07:00, -0330, Z, UTC) or an IANA name (Asia/Ho_Chi_Minh).
func ParseZone(s string) (*time.Location, error) {
	switch s {
	case "", "Z", "UTC", "GMT":
		return time.UTC, nil
	}
	if s[0] == '+' || s[0] == '-' {
		d := strings.ReplaceAll(s[1:], ":", "")
		if isDigits(d) && (len(d) == 2 || len(d) == 4) {
			h, _ := strconv.Atoi(d[:2])
			m := 0
			if len(d) == 4 {
				m, _ = strconv.Atoi(d[2:])
			}
			if h <= 14 && m < 60 {
				off := h*3600 + m*60
				if s[0] == '-' {
					off = -off
				}
				return fixedZone(off), nil
			}
		}
		return nil, fmt.Errorf("edi: zone %q: want an offset such as +07:00 or an IANA name such as Asia/Ho_Chi_Minh", clip(s))
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		return nil, fmt.Errorf("edi: zone %q: want an offset such as +07:00 or an IANA name such as Asia/Ho_Chi_Minh", clip(s))
	}
	return loc, nil
}
