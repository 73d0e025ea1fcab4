#!/bin/sh
# The dashboard's browser test against the real lane: builds linkd, starts
# `linkd demo` (nine nodes with mutual TLS on loopback) with its dashboard on
# 127.0.0.1:${LINKD_DEMO_PORT:-18090}, runs run.sh against it (the map shows
# every node, the feed shows the customs HOLD, the allocations panel the
# Hamburg re-allocation), saves the screenshot to $LINKD_SCREENSHOT (default:
# a temporary file), then stops the demo with Ctrl-C and checks it ends
# cleanly with its summary.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
port=${LINKD_DEMO_PORT:-18090}
tmp=$(mktemp -d)
demo=""
cleanup() {
	[ -n "$demo" ] && kill -INT "$demo" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

(cd "$root" && go build -o "$tmp/linkd" ./cmd/linkd)
"$tmp/linkd" demo --fresh --dir "$tmp/lane" --dashboard "127.0.0.1:$port" --speed 4 --duration 30d >"$tmp/demo.log" 2>&1 &
demo=$!

i=0
until node -e 'fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "http://127.0.0.1:$port/config.json"; do
	i=$((i + 1))
	if [ $i -ge 300 ] || ! kill -0 "$demo" 2>/dev/null; then
		echo "demo.sh: the demo's dashboard did not come up:" >&2
		cat "$tmp/demo.log" >&2
		exit 1
	fi
	sleep 0.2
done

LINKD_DASHBOARD_URL=http://127.0.0.1:$port/
LINKD_SCREENSHOT=${LINKD_SCREENSHOT:-$tmp/dashboard.png}
export LINKD_DASHBOARD_URL LINKD_SCREENSHOT
if ! "$here/run.sh"; then
	echo "demo.sh: the browser test failed; the demo said:" >&2
	cat "$tmp/demo.log" >&2
	exit 1
fi

# Ctrl-C: every node stops cleanly and the demo says so.
kill -INT "$demo"
wait "$demo" || true
demo=""
if ! grep -q "closed cleanly" "$tmp/demo.log"; then
	echo "demo.sh: the demo did not say it stopped cleanly after Ctrl-C:" >&2
	tail -20 "$tmp/demo.log" >&2
	exit 1
fi
echo "demo.sh: ok; the demo ended cleanly"
