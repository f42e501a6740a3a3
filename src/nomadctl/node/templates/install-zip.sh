# nomadctl (render.py) sets binary, version, releases, fingerprint and release_key above,
# each shell-quoted; nothing in this file is substituted. Every variable is used quoted.
set -eu
case "$(uname -m)" in x86_64) arch=amd64;; aarch64|arm64) arch=arm64;; *) echo "nomadctl: unsupported CPU: $(uname -m)" >&2; exit 3;; esac
if [ "$("$binary" version 2>/dev/null | head -n1)" != "Nomad v$version" ]; then
  need=""
  command -v unzip >/dev/null || need="$need unzip"
  command -v gpg >/dev/null || need="$need gpg"
  command -v wget >/dev/null || need="$need wget"
  if [ -n "$need" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq $need >/dev/null
  fi
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  # HashiCorp's layout: <releases>/nomad/<version>/..., enterprise versions end in +ent.
  base="$releases/nomad/$version"
  zip="nomad_${version}_linux_$arch.zip"
  sums="nomad_${version}_SHA256SUMS"
  for f in "$zip" "$sums" "$sums.sig"; do
    wget -q -O "$tmp/$f" "$base/$f" || { echo "nomadctl: download failed: $base/$f" >&2; exit 4; }
  done
  # Authenticity: the sums must carry a valid signature by the pinned key (or a subkey of
  # it): VALIDSIG's last field is the primary key's fingerprint.
  mkdir -m 0700 "$tmp/gnupg"
  printf '%s\n' "$release_key" >"$tmp/key.asc"
  gpg --batch --quiet --no-autostart --homedir "$tmp/gnupg" --import "$tmp/key.asc" 2>/dev/null || true
  signer=$(gpg --batch --no-autostart --homedir "$tmp/gnupg" --status-fd 1 --verify "$tmp/$sums.sig" "$tmp/$sums" 2>/dev/null | awk '$2 == "VALIDSIG" { print $NF }') || true
  if [ "$signer" != "$fingerprint" ]; then
    echo "nomadctl: $sums is not signed by the release key $fingerprint (tampered download or wrong key): not installing" >&2
    exit 5
  fi
  want=$(awk -v f="$zip" '$2 == f { print $1 }' "$tmp/$sums")
  got=$(sha256sum "$tmp/$zip" | cut -d' ' -f1)
  if [ -z "$want" ] || [ "$want" != "$got" ]; then
    echo "nomadctl: checksum mismatch for $zip (signed sums say ${want:-nothing}, download is $got): not installing" >&2
    exit 5
  fi
  unzip -o -q "$tmp/$zip" nomad -d "$tmp/bin"
  install -m 0755 "$tmp/bin/nomad" "$binary"
fi
