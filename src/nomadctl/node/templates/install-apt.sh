# nomadctl (render.py) sets binary, version, package, apt_url and apt_fingerprint above,
# each shell-quoted; nothing in this file is substituted. Every variable is used quoted.
set -eu
export DEBIAN_FRONTEND=noninteractive
. /etc/os-release
case "$ID ${ID_LIKE:-}" in ubuntu*|debian*|*" debian"*) ;; *) echo "nomadctl: unsupported OS: $ID (need Ubuntu or Debian)" >&2; exit 3;; esac
if [ "$("$binary" version 2>/dev/null | head -n1)" != "Nomad v$version" ]; then
  if ! command -v gpg >/dev/null || ! command -v wget >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq gpg wget ca-certificates >/dev/null
  fi
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  wget -q -O "$tmp/key.asc" "$apt_url/gpg" || { echo "nomadctl: download failed: $apt_url/gpg" >&2; exit 4; }
  # The repository key is trusted only if it is the pinned one; only that key is kept.
  mkdir -m 0700 "$tmp/gnupg"
  gpg --batch --quiet --no-autostart --homedir "$tmp/gnupg" --import "$tmp/key.asc" 2>/dev/null || true
  if ! gpg --batch --no-autostart --homedir "$tmp/gnupg" --with-colons --list-keys 2>/dev/null | awk -F: -v want="$apt_fingerprint" 'prev == "pub" && $1 == "fpr" && $10 == want { ok = 1 } { prev = $1 } END { exit !ok }'; then
    echo "nomadctl: $apt_url/gpg is not the pinned apt key $apt_fingerprint: not installing" >&2
    exit 5
  fi
  install -d -m 0755 /usr/share/keyrings
  gpg --batch --no-autostart --homedir "$tmp/gnupg" --export "$apt_fingerprint" >"$tmp/keyring.gpg"
  install -m 0644 "$tmp/keyring.gpg" /usr/share/keyrings/hashicorp-archive-keyring.gpg
  echo "deb [signed-by=/usr/share/keyrings/hashicorp-archive-keyring.gpg] $apt_url $VERSION_CODENAME main" >/etc/apt/sources.list.d/hashicorp.list
  apt-get update -qq -o Dir::Etc::sourcelist=sources.list.d/hashicorp.list -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
  # nomadctl owns /etc/nomad.d/nomad.hcl (the package's conffile): keep ours, never prompt.
  apt-get install -y -qq --allow-downgrades --allow-change-held-packages \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "$package=$version-1" >/dev/null
  apt-mark hold "$package" >/dev/null
fi
