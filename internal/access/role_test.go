package access

import (
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
)

func TestRoleMatrix(t *testing.T) {
	perms := []Permission{ReadEvents, WriteEvents, ReadLog, ReadMetrics, ManageTokens, ManagePeers, EraseData, AuditLog}
	for _, tc := range []struct {
		role Role
		can  []bool // in the order of perms
	}{
		{Admin, []bool{true, true, true, true, true, true, true, true}},
		{Writer, []bool{true, true, true, false, false, false, false, false}},
		{Reader, []bool{true, false, true, false, false, false, false, false}},
		{Auditor, []bool{true, false, true, true, false, false, false, true}},
		{"root", []bool{false, false, false, false, false, false, false, false}},
		{"", []bool{false, false, false, false, false, false, false, false}},
	} {
		for i, p := range perms {
			if got := tc.role.Can(p); got != tc.can[i] {
				t.Errorf("%q.Can(%s) = %v, want %v", tc.role, p, got, tc.can[i])
			}
		}
		if tc.role.Can(0) {
			t.Errorf("%q.Can(0) = true, want false", tc.role)
		}
	}
}

func TestParseRole(t *testing.T) {
	for in, want := range map[string]Role{"admin": Admin, "Writer": Writer, " reader ": Reader, "AUDITOR": Auditor} {
		got, err := ParseRole(in)
		if err != nil || got != want {
			t.Errorf("ParseRole(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "root", "admins"} {
		_, err := ParseRole(in)
		wantCode(t, err, linkd.EInvalid, "admin, writer, reader, auditor")
	}
}

func TestRequire(t *testing.T) {
	tok := Token{ID: "abcdefghij", Role: Reader}
	if err := tok.Require(ReadEvents); err != nil {
		t.Errorf("reader Require(ReadEvents) = %v, want nil", err)
	}
	wantCode(t, tok.Require(WriteEvents), linkd.EForbidden, "reader", "write events", "admin or writer", "lkd_abcdefghij_")
	wantCode(t, tok.Require(ReadMetrics), linkd.EForbidden, "admin or auditor")
	wantCode(t, tok.Require(AuditLog), linkd.EForbidden, "may not audit the log", "admin or auditor")
	wantCode(t, tok.Require(ManagePeers), linkd.EForbidden, "reader", "may not manage peers", "use a token with role admin")
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		header, want, code string
	}{
		{"Bearer lkd_x", "lkd_x", ""},
		{"bearer  lkd_x ", "lkd_x", ""},
		{"", "", linkd.EUnauthorized},
		{"Basic dXNlcjpwYXNz", "", linkd.EUnauthorized},
		{"Bearer", "", linkd.EUnauthorized},
		{"Bearer   ", "", linkd.EUnauthorized},
		{"lkd_x", "", linkd.EUnauthorized},
	} {
		got, err := BearerToken(tc.header)
		if got != tc.want || linkd.ErrorCode(err) != tc.code {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, code %q", tc.header, got, err, tc.want, tc.code)
		}
		if err != nil && len(tc.header) > 6 && strings.Contains(err.Error(), tc.header[6:]) {
			t.Errorf("BearerToken error %q quotes the header", err)
		}
	}
}
