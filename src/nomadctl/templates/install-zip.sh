# Rendered by nomadctl (render.py) with str.format: doubled braces are literal braces.
set -eu
case "$(uname -m)" in x86_64) arch=amd64;; aarch64|arm64) arch=arm64;; *) echo "unsupported CPU: $(uname -m)" >&2; exit 3;; esac
if [ "$({binary} version 2>/dev/null | head -n1)" != "Nomad v{version}{suffix}" ]; then
  command -v unzip >/dev/null || {{ apt-get update -qq && apt-get install -y -qq unzip >/dev/null; }}
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  base=https://releases.hashicorp.com/{package}/{version}{suffix}
  zip={package}_{version}{suffix}_linux_$arch.zip
  wget -qO "$tmp/$zip" "$base/$zip"
  wget -qO "$tmp/SHA256SUMS" "$base/{package}_{version}{suffix}_SHA256SUMS"
  (cd "$tmp" && grep " $zip\$" SHA256SUMS | sha256sum -c --status) || {{ echo "checksum mismatch for $zip" >&2; exit 4; }}
  unzip -o -q "$tmp/$zip" nomad -d "$tmp/bin"
  install -m 0755 "$tmp/bin/nomad" {binary}
fi
