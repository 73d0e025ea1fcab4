package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"
)

// loadConn is the HTTPS load generator's connection: one kept-alive TLS
// connection that writes prepared HTTP/1.1 requests whole and reads each
// answer before the next request, as wrk does. The client and the node share
// this machine's cores, so whatever the client spends the node does not get:
// Go's HTTP client hands each request between three goroutines and decodes
// each answer with encoding/json, which cost about a quarter of all the CPU
// of a run of single-event requests. The figure is meant to be the node's.
type loadConn struct {
	conn *tls.Conn
	br   *bufio.Reader
}

// dialLoad opens a load connection to the node at base (https://host:port),
// trusting the CA in caFile.
func dialLoad(ctx context.Context, base, caFile string) (*loadConn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: &tls.Config{
		MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}}}
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	return &loadConn{conn: c.(*tls.Conn), br: bufio.NewReaderSize(c, 64<<10)}, nil
}

// postRequest is a whole HTTP/1.1 request that POSTs body to path.
func postRequest(host, path, token string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: %d\r\n\r\n",
		path, host, token, len(body))
	b.Write(body)
	return b.Bytes()
}

// getRequest is a whole HTTP/1.1 GET request for path.
func getRequest(host, path string) []byte {
	return fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host)
}

// do sends a prepared request and returns the answer's status and body. The
// body is valid until the next call.
func (c *loadConn) do(req []byte, body []byte) (int, []byte, error) {
	if _, err := c.conn.Write(req); err != nil {
		return 0, nil, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, nil, fmt.Errorf("read status line: %w", err)
	}
	// "HTTP/1.1 201 Created\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, nil, fmt.Errorf("malformed status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, fmt.Errorf("malformed status line %q", line)
	}
	length := -1
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, nil, fmt.Errorf("read header: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(name, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(value))); err != nil || length < 0 {
				return 0, nil, fmt.Errorf("malformed Content-Length %q", value)
			}
		}
	}
	if length < 0 {
		return 0, nil, fmt.Errorf("answer with status %d has no Content-Length", status)
	}
	if cap(body) < length {
		body = make([]byte, length)
	}
	body = body[:length]
	if _, err := io.ReadFull(c.br, body); err != nil {
		return 0, nil, fmt.Errorf("read body: %w", err)
	}
	return status, body, nil
}

func (c *loadConn) close() error { return c.conn.Close() }

// checkAcks checks that an answer to POST /v1/events acknowledges want new
// events.
func checkAcks(status int, body []byte, want int) error {
	if status != 200 && status != 201 {
		return fmt.Errorf("POST /v1/events: status %d: %s", status, bytes.TrimSpace(body))
	}
	if got := bytes.Count(body, []byte(`"logIndex":`)); got != want {
		return fmt.Errorf("POST /v1/events acknowledged %d events of %d", got, want)
	}
	if bytes.Contains(body, []byte(`"duplicate":true`)) {
		return fmt.Errorf("POST /v1/events: the node took a new event for a duplicate")
	}
	return nil
}
