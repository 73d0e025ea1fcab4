package httpapi

import (
	"net/http"
	"net/url"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/internal/dcsa"
	"github.com/linkd-dev/linkd/internal/query"
)

// dcsaEvents answers DCSA Track & Trace 2.2's GET /v2/events: a JSON array
// of events, paged by cursor with the Current-Page, First-Page and Next-Page
// headers holding the URLs of those pages.
func (s *Server) dcsaEvents(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("API-Version", dcsa.APIVersion)
	q, err := dcsa.ParseQuery(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := query.Run(r.Context(), s.reader(), q.Filter, q.Cursor, q.Limit)
	if err != nil {
		return err
	}
	out := make([]dcsa.Event, len(page.Events))
	for i := range page.Events {
		out[i] = dcsa.FromEvent(&page.Events[i].Event)
	}
	w.Header().Set("Current-Page", pageURL(r, q.Cursor))
	w.Header().Set("First-Page", pageURL(r, ""))
	if page.Next != "" {
		w.Header().Set("Next-Page", pageURL(r, page.Next))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// pageURL is the request's URL with its cursor replaced.
func pageURL(r *http.Request, cursor string) string {
	q := r.URL.Query()
	q.Del("cursor")
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	return u.String()
}

// dcsaError is DCSA's error object, sent beside linkd's own on /v2 paths so
// clients of either format find what they look for.
type dcsaError struct {
	linkd.ErrorBody
	HTTPMethod     string            `json:"httpMethod"`
	RequestURI     string            `json:"requestUri"`
	StatusCode     int               `json:"statusCode"`
	StatusCodeText string            `json:"statusCodeText"`
	ErrorDateTime  string            `json:"errorDateTime"`
	Errors         []dcsaErrorDetail `json:"errors"`
}

type dcsaErrorDetail struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func toDCSAError(r *http.Request, status int, body linkd.ErrorBody) dcsaError {
	e := dcsaError{
		ErrorBody:      body,
		HTTPMethod:     r.Method,
		RequestURI:     r.URL.RequestURI(),
		StatusCode:     status,
		StatusCodeText: http.StatusText(status),
		ErrorDateTime:  time.Now().UTC().Format(time.RFC3339),
	}
	if len(body.Error.Problems) == 0 {
		e.Errors = []dcsaErrorDetail{{Reason: body.Error.Code, Message: body.Error.Message}}
	}
	for _, p := range body.Error.Problems {
		e.Errors = append(e.Errors, dcsaErrorDetail{Reason: body.Error.Code, Message: p.String()})
	}
	return e
}
