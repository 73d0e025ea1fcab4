#!/bin/sh
# Runs the dashboard's browser test in headless Chromium.
#
#   LINKD_DASHBOARD_URL=http://127.0.0.1:8089/ test/browser/run.sh
#
# Installs Debian's chromium when no Chromium is on this machine, installs
# playwright-core from package-lock.json (npm ci), then runs
# dashboard.test.mjs (its header lists the expectations and their
# variables). Without LINKD_DASHBOARD_URL it builds and starts the
# development server (internal/dashboard/devserver_test.go: the dashboard
# in front of fake nodes of the lane) on 127.0.0.1:${LINKD_DEV_PORT:-18089}
# and tests that.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

have_chromium() {
	for c in "${CHROMIUM:-}" chromium chromium-browser google-chrome google-chrome-stable; do
		[ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && return 0
	done
	return 1
}

if ! have_chromium; then
	echo "run.sh: no chromium found; installing Debian's chromium" >&2
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo=sudo
	$sudo apt-get update
	$sudo apt-get install -y chromium
fi

npm ci --no-audit --no-fund

if [ -z "${LINKD_DASHBOARD_URL:-}" ]; then
	port=${LINKD_DEV_PORT:-18089}
	tmp=$(mktemp -d)
	echo "run.sh: no LINKD_DASHBOARD_URL; starting the development server on 127.0.0.1:$port" >&2
	(cd ../.. && go test -c -tags devserver -o "$tmp/devserver.test" ./internal/dashboard)
	(cd ../../internal/dashboard && LINKD_DEV_ADDR=127.0.0.1:$port LINKD_DEV_FOR=15m \
		exec "$tmp/devserver.test" -test.run TestDevServer -test.timeout 0) >"$tmp/devserver.log" 2>&1 &
	dev=$!
	trap 'kill $dev 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
	LINKD_DASHBOARD_URL=http://127.0.0.1:$port/
	export LINKD_DASHBOARD_URL
	i=0
	until node -e 'fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "${LINKD_DASHBOARD_URL}config.json"; do
		i=$((i + 1))
		if [ $i -ge 100 ] || ! kill -0 $dev 2>/dev/null; then
			echo "run.sh: the development server did not start:" >&2
			cat "$tmp/devserver.log" >&2
			exit 1
		fi
		sleep 0.2
	done
fi

node dashboard.test.mjs
