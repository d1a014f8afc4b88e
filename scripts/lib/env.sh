# shellcheck shell=bash
# Sourced by the scripts in scripts/: finds a Python for a test leg, builds (or reuses)
# that leg's virtual environment, and runs commands in it.
#
# Legs:
#   current  newest Home Assistant test harness, needs Python >= 3.14.2
#   min      oldest supported Home Assistant (2025.4.4), needs Python 3.13
#
# Python discovery, in order: $IQGW_PYTHON_CURRENT / $IQGW_PYTHON_MIN; a suitable
# interpreter on PATH; pyenv's installed versions; for the current leg only, on Linux as
# root, a Debian forky chroot with python3.14 built by debootstrap (see DEVELOPERS.md).
#
# Everything built lives in $IQGW_CACHE_DIR (default ~/.cache/enphase-iq-gateway) and is
# keyed by a hash of the requirements, so fresh clones reuse it.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE_DIR=${IQGW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/enphase-iq-gateway}
CHROOT_DIR=$CACHE_DIR/forky
CHROOT_REPO=/repo

log() { printf '==> %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# leg_bounds LEG -> "LOW HIGH" (inclusive, exclusive) Python versions.
leg_bounds() {
	case $1 in
	current) echo "3.14.2 3.15" ;;
	min) echo "3.13.0 3.14" ;;
	any) echo "3.10.0 4.0" ;;
	*) die "unknown leg '$1' (current or min)" ;;
	esac
}

# leg_requirements LEG -> the requirement files the leg's venv installs.
leg_requirements() {
	case $1 in
	current) echo "requirements_test.txt requirements_lint.txt" ;;
	min) echo "requirements_test_min.txt" ;;
	ha) echo "requirements_ha.txt" ;;
	e2e) echo "requirements_e2e.txt" ;;
	*) die "unknown leg '$1'" ;;
	esac
}

# python_fits PYTHON LOW HIGH: true when PYTHON runs and LOW <= version < HIGH.
python_fits() {
	"$1" - "$2" "$3" >/dev/null 2>&1 <<'PY'
import sys
low, high = (tuple(int(p) for p in v.split(".")) for v in sys.argv[1:3])
sys.exit(0 if low <= sys.version_info[:3] < high else 1)
PY
}

# find_host_python LEG: print a host interpreter for LEG, or nothing.
find_host_python() {
	local leg=$1 low high var candidate root
	read -r low high <<<"$(leg_bounds "$leg")"
	var="IQGW_PYTHON_$(echo "$leg" | tr '[:lower:]' '[:upper:]')"
	if [ -n "${!var:-}" ]; then
		python_fits "${!var}" "$low" "$high" || die "$var=${!var} is not Python >= $low, < $high"
		echo "${!var}"
		return
	fi
	local minor=${low%.*}
	for candidate in "python$minor" python3 python; do
		candidate=$(command -v "$candidate" 2>/dev/null) || continue
		if python_fits "$candidate" "$low" "$high"; then
			echo "$candidate"
			return
		fi
	done
	if command -v pyenv >/dev/null 2>&1 && root=$(pyenv root 2>/dev/null); then
		for candidate in $(ls -d "$root"/versions/"$minor".*/bin/python"$minor" 2>/dev/null | sort -rV); do
			if python_fits "$candidate" "$low" "$high"; then
				echo "$candidate"
				return
			fi
		done
	fi
}

# debian_mirror: the Debian archive this machine's apt sources already use.
debian_mirror() {
	local mirror
	mirror=$(
		{
			grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
			grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
				sed -E 's/^deb (\[[^]]*\] )?//' | awk '{print $1}'
		} | grep -E '/debian/?$' | grep -v security | head -n 1
	)
	echo "${mirror:-http://deb.debian.org/debian}"
}

# ensure_chroot: build the Debian forky chroot with python3.14 once (~80 s), then reuse it.
ensure_chroot() {
	[ -f "$CHROOT_DIR/.iqgw-ready" ] && return
	[ "$(uname -s)" = Linux ] || die "no Python >= 3.14.2 found; install one (or set IQGW_PYTHON_CURRENT)"
	[ "$(id -u)" = 0 ] || die "no Python >= 3.14.2 found; install one, set IQGW_PYTHON_CURRENT, or run as root to let scripts/test build a Debian chroot"
	if ! command -v debootstrap >/dev/null 2>&1; then
		log "installing debootstrap"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; } ||
			die "could not install debootstrap"
	fi
	local mirror tmp
	mirror=$(debian_mirror)
	tmp=$CHROOT_DIR.building.$$
	log "no Python >= 3.14.2 on this machine: building a Debian forky chroot with python3.14 from $mirror (about 80 s, once)"
	mkdir -p "$CACHE_DIR"
	rm -rf "$tmp"
	debootstrap --variant=minbase --include=python3.14,python3.14-venv,ca-certificates \
		forky "$tmp" "$mirror" /usr/share/debootstrap/scripts/sid >"$CACHE_DIR/debootstrap.log" 2>&1 ||
		die "debootstrap failed; see $CACHE_DIR/debootstrap.log"
	cp /etc/resolv.conf "$tmp/etc/resolv.conf"
	mkdir -p "$tmp/etc/ssl/certs" "$tmp$CHROOT_REPO"
	[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$tmp/etc/ssl/certs/"
	touch "$tmp/.iqgw-ready"
	rm -rf "$CHROOT_DIR"
	mv "$tmp" "$CHROOT_DIR"
}

# ensure_chroot_build_tools: a compiler and Python headers in the chroot, for the few
# packages a real Home Assistant builds from source on Python 3.14 (~25 s, once).
ensure_chroot_build_tools() {
	[ -f "$CHROOT_DIR/.iqgw-build-tools" ] && return
	log "installing g++ and python3.14-dev in the chroot (once)"
	in_chroot /bin/sh -c 'DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Check-Valid-Until=false update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ python3.14-dev >/dev/null' ||
		die "could not install build tools in the chroot"
	touch "$CHROOT_DIR/.iqgw-build-tools"
}

# in_chroot CMD...: run CMD inside the chroot, with the repository at $CHROOT_REPO and any
# extra directories from IQGW_CHROOT_BINDS ("host:inside host:inside") bound in. The mounts
# live in a private mount namespace, so they vanish when the command ends, even on a crash.
in_chroot() {
	local binds="$REPO_ROOT:$CHROOT_REPO ${IQGW_CHROOT_BINDS:-}"
	IQGW_CHROOT_ENV=${IQGW_CHROOT_ENV:-} unshare --mount --propagation private -- \
		/bin/bash -c "$_IN_CHROOT_SCRIPT" in_chroot "$CHROOT_DIR" "$binds" "$@"
}
_IN_CHROOT_SCRIPT=$(
	cat <<'SH'
set -e
root=$1 binds=$2
shift 2
mount --bind /proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys" 2>/dev/null || true
for pair in $binds; do
	mkdir -p "$root${pair#*:}"
	mount --bind "${pair%%:*}" "$root${pair#*:}"
done
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/" 2>/dev/null || true
# A clean environment, plus what installs and tests need from the host's: proxies, package
# indexes, and the CA bundle copied in above (this machine's TLS may be intercepted).
keep=()
for var in CI TERM PYTEST_ADDOPTS HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy \
	PIP_INDEX_URL PIP_EXTRA_INDEX_URL UV_INDEX_URL UV_EXTRA_INDEX_URL $IQGW_CHROOT_ENV; do
	[ -n "${!var:-}" ] && keep+=("$var=${!var}")
done
exec chroot "$root" /usr/bin/env -i \
	HOME=/root LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
	SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
	"${keep[@]}" "$@"
SH
)

# leg_runner LEG: set RUN (a command prefix) and PY (the venv's python as RUN sees it) for
# LEG, building the venv when its requirements changed.
leg_runner() {
	local leg=$1 python req hash venv_host venv_seen where
	local -a files
	read -r -a files <<<"$(leg_requirements "$leg")"
	python=""
	case $leg in
	ha) python=$(find_host_python current) ;;
	e2e) python=$(find_host_python any) ;;
	*) python=$(find_host_python "$leg") ;;
	esac
	if [ -n "$python" ]; then
		where=host
	elif [ "$leg" = current ] || [ "$leg" = ha ]; then
		ensure_chroot
		where=chroot
		python=/usr/bin/python3.14
		[ "$leg" = ha ] && ensure_chroot_build_tools
	else
		die "no Python 3.13 found for the minimum leg: install it (pyenv install 3.13) or set IQGW_PYTHON_MIN"
	fi
	hash=$( (cd "$REPO_ROOT" && cat "${files[@]}") | sha256sum | cut -c1-12)
	if [ "$where" = host ]; then
		hash=$(printf '%s %s' "$hash" "$("$python" -c 'import sys; print(sys.version)')" | sha256sum | cut -c1-12)
		venv_host=$CACHE_DIR/venvs/$leg-$hash
		venv_seen=$venv_host
		RUN=(env)
	else
		venv_host=$CHROOT_DIR/opt/venvs/$leg-$hash
		venv_seen=/opt/venvs/$leg-$hash
		RUN=(in_chroot)
	fi
	PY=$venv_seen/bin/python
	if [ ! -f "$venv_host/.ready" ]; then
		log "building the $leg venv ($where, $python) from ${files[*]}"
		rm -rf "$venv_host"
		mkdir -p "$(dirname "$venv_host")"
		local reqs=""
		for req in "${files[@]}"; do reqs="$reqs -r $CHROOT_REPO/$req"; done
		[ "$where" = host ] && reqs=${reqs//$CHROOT_REPO/$REPO_ROOT}
		"${RUN[@]}" /bin/sh -c "set -e
			'$python' -m venv '$venv_seen'
			'$venv_seen/bin/python' -m pip install -q --disable-pip-version-check uv
			'$venv_seen/bin/python' -m uv pip install -q -p '$venv_seen/bin/python' $reqs" ||
			die "could not build the $leg venv"
		touch "$venv_host/.ready"
	fi
	if [ "$where" = host ]; then
		REPO_SEEN=$REPO_ROOT
	else
		REPO_SEEN=$CHROOT_REPO
	fi
}

# run_in_leg LEG CMD...: run CMD (first word resolved in the venv's bin/) from the repo root.
run_in_leg() {
	local leg=$1
	shift
	leg_runner "$leg"
	"${RUN[@]}" /bin/sh -c 'cd "$1" && shift && PATH="$(dirname "$0"):$PATH" exec "$@"' "$PY" "$REPO_SEEN" "$@"
}
