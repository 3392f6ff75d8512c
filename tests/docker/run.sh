#!/usr/bin/env bash
# Docker tests: EPSIP's image (deploy/docker/Dockerfile) built and run
# with deploy/docker/docker-compose.yml, phones talking SIP to it over
# loopback (test_compose.py).
# usage: run.sh [pytest args...]
#
# What it needs: a Docker engine (`docker info` answers), docker-compose
# 1.29 or Compose v2 (`docker compose`), and the debian:bookworm-slim
# image, which is made with debootstrap when no registry can give it:
# the root file system is kept as a tarball in $EPSIP_DOCKER_CACHE
# (default /var/cache/epsip-test-docker), so only the first run pays for
# it.  When the engine or compose is missing, every test is reported
# skipped with the reason ("docker: 0 passed, 0 failed, N skipped") and
# the exit status is 0.
#
# The image is built with --network host (a registry-less host's dockerd
# may have no bridge: `dockerd --bridge=none`), tagged for this run only,
# and the compose set runs under a project name of its own, so nothing
# here touches an `epsip` image or project of the machine.  At the end,
# whatever happened, the run's containers, volumes, networks and images
# are removed; what is kept for the next run is the tarball, the base
# image and the Dockerfile's two package stages (epsip-test-cache:*).
# A run whose tests left a container, volume or network behind fails.
set -u
cd "$(dirname "$0")" || exit 2
root=$(cd ../.. && pwd)
pytest_args=("$@")

# pytest still collects the tests, and conftest.py marks each skipped.
skip() {
	echo "docker tests cannot run here: $*"
	EPSIP_DOCKER_SKIP="$*" exec ../run-pytest.sh docker "${pytest_args[@]}"
}
# A step before pytest failed: one failure, said in the summary's form.
fail() {
	echo "failed: docker: $*"
	echo "docker: 0 passed, 1 failed, 0 skipped"
	exit 1
}

command -v docker >/dev/null || skip "no docker command (Debian: docker.io)"
docker info >/dev/null 2>&1 ||
	skip "no Docker engine reachable (docker info: $(docker info 2>&1 >/dev/null | grep -v '^$' | tail -1))"
if [ -n "${EPSIP_COMPOSE:-}" ]; then
	compose=$EPSIP_COMPOSE
elif docker compose version >/dev/null 2>&1; then
	compose="docker compose"
elif command -v docker-compose >/dev/null; then
	compose=docker-compose
else
	skip "neither docker-compose nor docker compose (Debian: docker-compose)"
fi

base=debian:bookworm-slim
cache=${EPSIP_DOCKER_CACHE:-/var/cache/epsip-test-docker}
tarball=$cache/bookworm-minbase.tar
mirror=${EPSIP_DEBIAN_MIRROR:-http://deb.debian.org/debian}

# The sources Debian's own bookworm-slim image has, so that apt-get in
# the Dockerfile gets updates and security fixes as it would there.
debian_sources() {
	cat <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}

# debootstrap's minbase, without apt's lists and caches, as a tarball.
make_rootfs_tarball() {
	local dir
	mkdir -p "$cache" || return 1
	dir=$(mktemp -d "$cache/rootfs.XXXXXX") || return 1
	echo "making $base with debootstrap (kept in $tarball)"
	if ! nice -n 10 debootstrap --variant=minbase bookworm "$dir" \
	    "$mirror" >"$cache/debootstrap.log" 2>&1; then
		tail -20 "$cache/debootstrap.log"
		rm -rf "$dir"
		return 1
	fi
	rm -f "$dir/etc/apt/sources.list"
	debian_sources >"$dir/etc/apt/sources.list.d/debian.sources"
	rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin \
	    "$dir"/var/cache/apt/archives/*.deb
	tar -C "$dir" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
	local rc=$?
	rm -rf "$dir" "$tarball.tmp"
	return $rc
}

if ! docker image inspect "$base" >/dev/null 2>&1; then
	if [ ! -s "$tarball" ]; then
		[ "$(id -u)" = 0 ] ||
			skip "no $base image, and making one with debootstrap needs root"
		command -v debootstrap >/dev/null ||
			skip "no $base image, and no debootstrap to make one (Debian: debootstrap)"
		make_rootfs_tarball || fail "debootstrap could not make $base"
	fi
	docker import -c 'CMD ["bash"]' "$tarball" "$base" >/dev/null ||
		fail "docker import $tarball as $base"
fi

# This run's names: unique, so two runs (or an operator's own `epsip`
# project) never meet.
project=epsip-test-$$-$(date +%s)
image=epsip-test:$project
build_image=epsip-test-build:$project
export EPSIP_DOCKER_PROJECT=$project EPSIP_DOCKER_IMAGE=$image
export EPSIP_COMPOSE="$compose"
log=$(mktemp /tmp/epsip-docker-build.XXXXXX)

# The project's containers, volumes or networks (KIND: ps, volume,
# network): compose labels everything it makes with the project name.
of_project() {
	local list="$1 ls"
	[ "$1" = ps ] && list="ps -a"
	docker $list -q --filter "label=com.docker.compose.project=$project"
}
# Removing the two images also removes their layers down to the kept
# ones (the base and the *-env stages).
cleanup() {
	local ids
	ids=$(of_project ps)
	[ -z "$ids" ] || docker rm -f $ids >/dev/null
	ids=$(of_project volume)
	[ -z "$ids" ] || docker volume rm -f $ids >/dev/null
	ids=$(of_project network)
	[ -z "$ids" ] || docker network rm $ids >/dev/null
	docker image rm -f "$image" "$build_image" >/dev/null 2>&1
	rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# docker build of deploy/docker/Dockerfile tagged TAG, with more flags.
build() {
	local tag=$1; shift
	nice -n 10 docker build --network host --force-rm \
	    -f "$root/deploy/docker/Dockerfile" -t "$tag" "$@" "$root" \
	    >>"$log" 2>&1
}
# A package stage of the Dockerfile (build-env, runtime-env), tagged so
# that the next run starts from it.  When the tag moves (the Dockerfile's
# packages or the base changed), the image it left is removed unless
# another still uses it.
keep_stage() {
	local tag=epsip-test-cache:$1 old
	old=$(docker image ls -q "$tag")
	build "$tag" --target "$1" || return 1
	[ -z "$old" ] || [ "$old" = "$(docker image ls -q "$tag")" ] ||
		docker image rm "$old" >/dev/null 2>&1
	return 0
}

# The unit tests run inside the build stage.  It is tagged on its own
# so that cleanup() can remove it: the image alone does not contain it.
echo "building $image (deploy/docker/Dockerfile, --network host)"
t0=$(date +%s)
if ! { keep_stage build-env && keep_stage runtime-env &&
    build "$build_image" --target build && build "$image"; }; then
	tail -40 "$log"
	fail "docker build -f deploy/docker/Dockerfile (log above)"
fi
echo "built $image in $(($(date +%s) - t0)) s"

../run-pytest.sh docker "${pytest_args[@]}"
rc=$?
left=$( (of_project ps; of_project volume; of_project network) | wc -l)
if [ "$left" -gt 0 ]; then
	echo "docker: $left container(s), volume(s) or network(s) of" \
	    "$project left behind" >&2
	rc=1
fi
exit $rc
