package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// statusOf maps an error code to its HTTP status. ErrorFromStatus in the
// client maps back, so both ends speak the same codes.
func statusOf(code string) int {
	switch code {
	case linkd.EInvalid:
		return http.StatusBadRequest
	case linkd.ENotFound:
		return http.StatusNotFound
	case linkd.EConflict:
		return http.StatusConflict
	case linkd.EUnauthorized:
		return http.StatusUnauthorized
	case linkd.EForbidden:
		return http.StatusForbidden
	case linkd.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case linkd.ERateLimited:
		return http.StatusTooManyRequests
	case linkd.EUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError answers with err as an ErrorBody. Internal errors are logged
// with their detail and shown to the caller only as "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = linkd.Errorf(linkd.ETooLarge, "the request body is over %d bytes; send smaller batches", mbe.Limit)
	}
	code := linkd.ErrorCode(err)
	body := linkd.ErrorBody{Error: linkd.ErrorDetail{Code: code, Message: linkd.ErrorMessage(err)}}
	var ve *linkd.ValidationError
	if errors.As(err, &ve) {
		body.Error.Problems = ve.Problems
		body.Error.Message = "the request has problems; each is listed with its field"
		if len(ve.Problems) == 1 {
			body.Error.Message = ve.Problems[0].String()
		}
	}
	status := statusOf(code)
	if status == http.StatusInternalServerError {
		s.logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="linkd"`)
	}
	var rl *rateLimited
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(int((rl.after+time.Second-1)/time.Second)))
	}
	if code == linkd.EUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	if strings.HasPrefix(r.URL.Path, "/v2/") {
		writeJSON(w, status, toDCSAError(r, status, body))
		return
	}
	writeJSON(w, status, body)
}

// rateLimited is a rate_limited error with the delay before the next request
// would pass.
type rateLimited struct {
	err   *linkd.Error
	after time.Duration
}

func (e *rateLimited) Error() string { return e.err.Error() }
func (e *rateLimited) Unwrap() error { return e.err }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every body is a type of this package or linkd; failing to marshal
		// one is a bug, so say so rather than send half a body.
		slog.Error("marshal response", "err", err)
		http.Error(w, `{"error":{"code":"internal","message":"internal error"}}`, http.StatusInternalServerError)
		return
	}
	writeBody(w, status, append(b, '\n'))
}

// writeBody answers a JSON body b, which ends with its newline.
func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
