"""Data files, no code: the install scripts (`install-zip.sh`, `install-apt.sh`,
`install-docker.sh`) that `node.render` fills in, and HashiCorp's release signing key
(`hashicorp.asc`, pinned by `node.release_keys`). Imports nothing."""
