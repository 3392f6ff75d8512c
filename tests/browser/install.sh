#!/usr/bin/env bash
# What the browser test needs, installed only when missing, so that a
# second run (and a run without the network) installs nothing:
#   Debian: chromium, libnss3-tools (certutil), openssl, iproute2, nodejs
#   npm:    package-lock.json's exact versions (jssip, sip.js,
#           playwright-core, esbuild), by `npm ci`
# node_modules is kept per lock file in /var/cache/epsip-test-browser/HASH
# when that is writable (root: it outlives a fresh clone, as on CI), else
# in tests/browser/.node_modules-HASH; tests/browser/node_modules is a
# link to it.  A stamp file says the install finished.
# Exit 0 when everything is there; 1 with the reason on stderr otherwise.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

need_deb=""
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
for p in chromium libnss3-tools openssl iproute2; do
	have "$p" || need_deb="$need_deb $p"
done
command -v node >/dev/null && command -v npm >/dev/null ||
	need_deb="$need_deb nodejs npm"
if [ -n "$need_deb" ]; then
	echo "installing (apt):$need_deb"
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	{ $SUDO apt-get update -qq &&
	  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
	      $need_deb; } >&2 ||
		{ echo "apt-get install$need_deb failed" >&2; exit 1; }
fi

# playwright-core needs node 20 or later (its package.json "engines").
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
	echo "node $(node --version 2>/dev/null) is too old: playwright-core needs 20 or later" >&2
	exit 1
fi

hash=$(cat package.json package-lock.json | sha256sum | cut -c1-16)
cache=/var/cache/epsip-test-browser
if mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ]; then
	dir=$cache/$hash
else
	dir=$here/.node_modules-$hash
fi
stamp=$dir/node_modules/.epsip-installed
if [ ! -e "$stamp" ]; then
	echo "installing (npm ci) into $dir"
	tmp=$(mktemp -d "$dir.tmp.XXXXXX") || exit 1
	cp package.json package-lock.json "$tmp"/
	# --ignore-scripts: the only install script is esbuild's, which only
	# checks the binary that its platform package (@esbuild/linux-x64)
	# already brings.
	if ! (cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund \
	    --prefer-offline --loglevel=error >&2); then
		rm -rf "$tmp"
		echo "npm ci failed (the npm registry is needed once)" >&2
		exit 1
	fi
	touch "$tmp/node_modules/.epsip-installed"
	chmod 755 "$tmp"		# mktemp's 0700: any user may read it
	rm -rf "$dir"
	mv "$tmp" "$dir"
fi
# The link tests/browser/node_modules, unless it already is that very
# directory; a real directory there (an `npm install` by hand) is left.
if [ -L node_modules ] || [ ! -e node_modules ]; then
	[ "$(readlink node_modules)" = "$dir/node_modules" ] ||
		ln -sfn "$dir/node_modules" node_modules
fi
# Exactly the versions package.json pins.
node -e '
const want = require("./package.json").dependencies;
for (const [m, v] of Object.entries(want)) {
	let got = null;
	try { got = require("./node_modules/" + m + "/package.json").version; }
	catch (e) {}
	if (got !== v) {
		console.error(`node_modules/${m} is ${got}, package.json pins ${v}` +
		    " (remove tests/browser/node_modules and run again)");
		process.exit(1);
	}
}' || exit 1
exit 0
