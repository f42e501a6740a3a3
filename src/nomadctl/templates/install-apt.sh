# Rendered by nomadctl (render.py) with str.format: doubled braces are literal braces.
set -eu
export DEBIAN_FRONTEND=noninteractive
. /etc/os-release
case "$ID" in ubuntu|debian) ;; *) echo "unsupported OS: $ID (need Ubuntu or Debian)" >&2; exit 3;; esac
if [ "$({binary} version 2>/dev/null | head -n1)" != "Nomad v{version}{suffix}" ]; then
  apt-get update -qq
  apt-get install -y -qq gpg wget ca-certificates >/dev/null
  install -d -m 0755 /usr/share/keyrings
  wget -qO- https://apt.releases.hashicorp.com/gpg | gpg --dearmor --yes -o /usr/share/keyrings/hashicorp-archive-keyring.gpg
  echo "deb [signed-by=/usr/share/keyrings/hashicorp-archive-keyring.gpg] https://apt.releases.hashicorp.com $VERSION_CODENAME main" > /etc/apt/sources.list.d/hashicorp.list
  apt-get update -qq
  apt-get install -y -qq --allow-downgrades {package}={version}{suffix}-1 >/dev/null
  apt-mark hold {package} >/dev/null
fi
