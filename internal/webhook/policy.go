package webhook

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/linkd-dev/linkd"
)

// Policy says which destinations a node's webhooks may reach. The zero
// Policy is the safe default: https only, public unicast addresses only.
//
// The switches are named after the node's configuration keys
// (webhooks.allow_private, webhooks.allow_loopback, webhooks.allow_http,
// webhooks.allow), and refusals name the key that would lift them.
type Policy struct {
	// AllowPrivate admits private addresses: RFC 1918 (10/8, 172.16/12,
	// 192.168/16), shared carrier-grade NAT space (100.64/10), benchmarking
	// space (198.18/15), IPv6 unique local (fc00::/7), site-local (fec0::/10)
	// and local-use NAT64 (64:ff9b:1::/48). Cloud metadata addresses inside
	// those ranges stay refused.
	AllowPrivate bool

	// AllowLoopback admits 127/8, ::1 and the name localhost. Tests set it
	// to reach httptest servers.
	AllowLoopback bool

	// AllowHTTP admits http:// callbacks; the default is https only.
	AllowHTTP bool

	// Allow admits every address in these prefixes, whatever its kind,
	// including link-local and metadata addresses. It is the operator's
	// escape hatch for a known internal receiver (10.20.0.0/24); keep it
	// narrow.
	Allow []netip.Prefix
}

// A DestinationError is a refused destination. It says which address was
// refused, why, and which configuration key would allow it.
type DestinationError struct {
	// Host is the callback's host as written in the URL: a name, or an
	// address literal.
	Host string

	// Addr is the refused address: the literal, or what Host resolved to at
	// dial time. It is invalid when Host is refused by name (localhost).
	Addr netip.Addr

	// Kind is a stable word for the class of address: loopback, private,
	// link-local, metadata, unspecified, multicast, broadcast or reserved.
	Kind string

	// Reason describes the address in words: "a private address",
	// "an IPv4-mapped form of 127.0.0.1, a loopback address".
	Reason string

	// Setting is the configuration key that allows this kind of
	// destination, or "" when only webhooks.allow can.
	Setting string
}

func (e *DestinationError) Error() string {
	var b strings.Builder
	switch {
	case !e.Addr.IsValid():
		fmt.Fprintf(&b, "callback host %s is %s", e.Host, e.Reason)
	case e.literal():
		fmt.Fprintf(&b, "callback %s is %s", e.Addr, e.Reason)
	default:
		fmt.Fprintf(&b, "callback host %s resolves to %s, %s", e.Host, e.Addr, e.Reason)
	}
	e.hint(&b)
	return b.String()
}

// ownerMessage is Error without the resolved address: the owner may see
// that their host name resolves somewhere forbidden, but the node's own
// view of internal DNS stays out of tenant-visible text.
func (e *DestinationError) ownerMessage() string {
	if !e.Addr.IsValid() || e.literal() {
		return e.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "callback host %s resolves to %s", e.Host, e.Reason)
	e.hint(&b)
	return b.String()
}

func (e *DestinationError) literal() bool {
	a, err := netip.ParseAddr(strings.Trim(e.Host, "[]"))
	return e.Host == "" || (err == nil && a.WithZone("") == e.Addr.WithZone(""))
}

func (e *DestinationError) hint(b *strings.Builder) {
	if e.Setting != "" {
		fmt.Fprintf(b, "; the node's operator can allow %s destinations with %s", e.Kind, e.Setting)
	} else {
		b.WriteString("; webhooks never go there unless the node's operator lists the address in webhooks.allow")
	}
}

type kind int

const (
	public kind = iota
	loopback
	private
	linkLocal
	metadata
	unspecified
	multicast
	broadcast
	reserved
)

var kindNames = [...]string{
	public: "public", loopback: "loopback", private: "private", linkLocal: "link-local",
	metadata: "metadata", unspecified: "unspecified", multicast: "multicast",
	broadcast: "broadcast", reserved: "reserved",
}

// special lists the address ranges webhooks refuse by default, most
// specific first: the first match decides. IPv4-mapped, NAT64 and 6to4
// addresses are judged by the IPv4 address they carry (see classify).
var special = []struct {
	prefix netip.Prefix
	kind   kind
	why    string
}{
	// Cloud instance metadata services: the classic SSRF prize. Listed
	// before the ranges that contain them so AllowPrivate cannot admit them.
	{pfx("169.254.169.254/32"), metadata, "a cloud metadata address"},
	{pfx("169.254.170.2/32"), metadata, "a cloud metadata address (ECS task credentials)"},
	{pfx("100.100.100.200/32"), metadata, "a cloud metadata address"},
	{pfx("fd00:ec2::254/128"), metadata, "a cloud metadata address"},

	{pfx("0.0.0.0/32"), unspecified, "the unspecified address"},
	{pfx("0.0.0.0/8"), reserved, "a \"this network\" address (0.0.0.0/8)"},
	{pfx("127.0.0.0/8"), loopback, "a loopback address"},
	{pfx("10.0.0.0/8"), private, "a private address"},
	{pfx("172.16.0.0/12"), private, "a private address"},
	{pfx("192.168.0.0/16"), private, "a private address"},
	{pfx("100.64.0.0/10"), private, "a private address (shared carrier-grade NAT space)"},
	{pfx("198.18.0.0/15"), private, "a private address (benchmarking space, often used inside networks)"},
	{pfx("169.254.0.0/16"), linkLocal, "a link-local address"},
	{pfx("192.0.0.0/24"), reserved, "a reserved address (IETF protocol assignments)"},
	{pfx("192.0.2.0/24"), reserved, "a reserved address (documentation)"},
	{pfx("198.51.100.0/24"), reserved, "a reserved address (documentation)"},
	{pfx("203.0.113.0/24"), reserved, "a reserved address (documentation)"},
	{pfx("192.88.99.0/24"), reserved, "a reserved address (deprecated 6to4 relay)"},
	{pfx("224.0.0.0/4"), multicast, "a multicast address"},
	{pfx("255.255.255.255/32"), broadcast, "the broadcast address"},
	{pfx("240.0.0.0/4"), reserved, "a reserved address (240.0.0.0/4)"},

	{pfx("::/128"), unspecified, "the unspecified address"},
	{pfx("::1/128"), loopback, "a loopback address"},
	{pfx("::/96"), reserved, "a reserved address (deprecated IPv4-compatible form)"},
	{pfx("64:ff9b:1::/48"), private, "a private address (local-use NAT64)"},
	{pfx("100::/64"), reserved, "a reserved address (discard-only)"},
	{pfx("2001::/32"), reserved, "a reserved address (Teredo tunnel)"},
	{pfx("2001:db8::/32"), reserved, "a reserved address (documentation)"},
	{pfx("fc00::/7"), private, "a private address (unique local)"},
	{pfx("fe80::/10"), linkLocal, "a link-local address"},
	{pfx("fec0::/10"), private, "a private address (deprecated site-local)"},
	{pfx("ff00::/8"), multicast, "a multicast address"},
}

var (
	nat64     = pfx("64:ff9b::/96")
	sixToFour = pfx("2002::/16")
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// classify returns the kind of a and a phrase for it; public means none of
// the special ranges.
func classify(a netip.Addr) (kind, string) {
	a = a.WithZone("")
	if a.Is4In6() {
		v4 := a.Unmap()
		if k, why := classify(v4); k != public {
			return k, "an IPv4-mapped form of " + v4.String() + ", " + why
		}
		return public, ""
	}
	for _, s := range special {
		if s.prefix.Contains(a) {
			return s.kind, s.why
		}
	}
	if a.Is6() {
		b := a.As16()
		var v4 netip.Addr
		var form string
		switch {
		case nat64.Contains(a):
			v4, form = netip.AddrFrom4([4]byte(b[12:16])), "a NAT64 form of "
		case sixToFour.Contains(a):
			v4, form = netip.AddrFrom4([4]byte(b[2:6])), "a 6to4 form of "
		}
		if v4.IsValid() {
			if k, why := classify(v4); k != public {
				return k, form + v4.String() + ", " + why
			}
		}
	}
	return public, ""
}

// CheckAddr reports whether p admits a as a destination, with a
// *DestinationError (Host empty) saying why not.
func CheckAddr(a netip.Addr, p Policy) error {
	return checkAddr("", a, p)
}

func checkAddr(host string, a netip.Addr, p Policy) error {
	if !a.IsValid() {
		return &DestinationError{Host: host, Addr: a, Kind: kindNames[reserved], Reason: "not an IP address"}
	}
	for _, allow := range p.Allow {
		if allow.Contains(a.WithZone("")) || allow.Contains(a.Unmap().WithZone("")) {
			return nil
		}
	}
	k, why := classify(a)
	switch {
	case k == public,
		k == loopback && p.AllowLoopback,
		k == private && p.AllowPrivate:
		return nil
	}
	return &DestinationError{Host: host, Addr: a, Kind: kindNames[k], Reason: why, Setting: setting(k)}
}

func setting(k kind) string {
	switch k {
	case loopback:
		return "webhooks.allow_loopback"
	case private:
		return "webhooks.allow_private"
	}
	return ""
}

// CheckURL checks a callback URL when a subscription is made: it must be an
// absolute https URL (http too with AllowHTTP) with a host, an optional
// port in 1–65535, and no user name or password. A host that is an address
// literal, or the name localhost, must be admitted by p. Other names are not
// resolved here: what they resolve to is checked on every dial.
//
// The error is a *linkd.Error with code invalid whose message is safe to
// show the user (it never repeats a password from the URL); refused
// addresses wrap a *DestinationError.
func CheckURL(raw string, p Policy) error {
	_, err := checkURL(raw, p)
	return err
}

func checkURL(raw string, p Policy) (*url.URL, error) {
	invalid := func(format string, args ...any) error {
		return &linkd.Error{Code: linkd.EInvalid, Message: fmt.Sprintf(format, args...)}
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password and all
		}
		return nil, &linkd.Error{Code: linkd.EInvalid, Message: "callback URL does not parse: " + err.Error()}
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p.AllowHTTP:
	case u.Scheme == "http":
		return nil, invalid("callback URL uses http; only https is allowed unless the node's operator sets webhooks.allow_http")
	case u.Scheme == "":
		return nil, invalid("callback URL must be absolute, starting with https://")
	default:
		return nil, invalid("callback URL scheme %q is not https", u.Scheme)
	}
	if u.Opaque != "" {
		return nil, invalid("callback URL must be absolute, starting with %s://", u.Scheme)
	}
	if u.User != nil {
		return nil, invalid("callback URL must not carry a user name or password")
	}
	host := u.Hostname()
	if host == "" {
		return nil, invalid("callback URL has no host")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, invalid("callback URL port %q is not 1 to 65535", port)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, invalid("callback URL has an empty port")
	}

	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return nil, invalid("callback URL host %s has an IPv6 zone; zones name local interfaces", host)
		}
		if err := checkAddr(host, a, p); err != nil {
			return nil, &linkd.Error{Code: linkd.EInvalid, Message: err.Error(), Err: err}
		}
		return u, nil
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		if checkAddr(host, netip.AddrFrom4([4]byte{127, 0, 0, 1}), p) != nil {
			err := &DestinationError{Host: host, Kind: kindNames[loopback], Reason: "a loopback name (RFC 6761)", Setting: setting(loopback)}
			return nil, &linkd.Error{Code: linkd.EInvalid, Message: err.Error(), Err: err}
		}
		return u, nil
	}
	if numericLooking(name) {
		// 127.1, 0x7f000001, 2130706433: some resolvers read these as
		// addresses. The dial-time check would still catch them, but a name
		// whose last label is numeric is not a DNS name (RFC 3696 §2).
		return nil, invalid("callback URL host %q is neither a dotted-quad address nor a DNS name", host)
	}
	return u, nil
}

// numericLooking reports whether name's last label is all digits or a 0x
// hex number, as in the shorthand IPv4 forms inet_aton accepts.
func numericLooking(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if last == "" {
		return false
	}
	digits := strings.TrimPrefix(last, "0x")
	hex := len(digits) < len(last)
	if digits == "" {
		return hex
	}
	for _, c := range digits {
		switch {
		case c >= '0' && c <= '9':
		case hex && c >= 'a' && c <= 'f':
		default:
			return false
		}
	}
	return true
}
