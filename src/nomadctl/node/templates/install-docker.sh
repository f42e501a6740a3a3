# nomadctl (render.py): no values are substituted into this file.
if ! command -v docker >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq docker.io >/dev/null
  systemctl enable --now docker
fi
