package docs

import (
	"bytes"
	"mime"
	"strings"

	"github.com/linkd-dev/linkd"
)

// Media types a document may have.
const (
	MediaPDF  = "application/pdf"
	MediaJSON = "application/json"
	MediaXML  = "application/xml"
)

// sniffLen is how many leading bytes Sniff looks at.
const sniffLen = 512

// Sniff returns the media type of a document from its first bytes: PDF (the
// %PDF- header), JSON (an object or array) or XML (a declaration or an
// element, after an optional byte-order mark); "" for anything else.
func Sniff(head []byte) string {
	if bytes.HasPrefix(head, []byte("%PDF-")) {
		return MediaPDF
	}
	b := bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return ""
	}
	switch b[0] {
	case '{', '[':
		return MediaJSON
	case '<':
		if len(b) < 2 {
			return ""
		}
		c := b[1]
		if c == '?' && bytes.HasPrefix(b, []byte("<?xml")) || c == '!' || c == '_' || c == ':' ||
			'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			return MediaXML
		}
	}
	return ""
}

// declaredMedia maps a Content-Type an uploader may give to the media type
// it names; "" for none or a generic one, in which case the bytes decide.
func declaredMedia(ct string) (string, error) {
	if ct == "" {
		return "", nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", linkd.Errorf(linkd.EInvalid, "Content-Type %q is not a media type", clip(ct))
	}
	switch mt = strings.ToLower(mt); mt {
	case "application/octet-stream":
		return "", nil
	case MediaPDF, MediaJSON, MediaXML:
		return mt, nil
	case "text/xml":
		return MediaXML, nil
	}
	return "", linkd.Errorf(linkd.EInvalid, "Content-Type %s: a document is PDF (application/pdf), JSON (application/json) or XML (application/xml)", mt)
}

// checkMedia says whether the sniffed type fits the declared one and returns
// the document's media type.
func checkMedia(declared, sniffed string) (string, error) {
	if sniffed == "" {
		return "", linkd.Errorf(linkd.EInvalid, "the bytes are not a PDF, JSON or XML document (PDF starts with %%PDF-, JSON with { or [, XML with <)")
	}
	if declared != "" && declared != sniffed {
		return "", linkd.Errorf(linkd.EInvalid, "the upload says Content-Type %s but the bytes are %s", declared, sniffed)
	}
	return sniffed, nil
}
