# apt.sh: helpers the install scripts source. log names the sourcing script; apt_install installs
# only the packages that are missing, and runs 'apt-get update' at most once per script run.

log() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=
apt_update() {
	[ -n "$apt_updated" ] && return
	as_root apt-get update -qq
	apt_updated=1
}

apt_install() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return
	log "apt-get install ${missing[*]}"
	apt_update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
