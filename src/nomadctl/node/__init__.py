"""What goes onto a node, and how it gets there.

`render` writes a node's files (agent HCL, systemd unit, install scripts from `templates/`),
`releases` and `release_keys` fetch and verify Nomad's binary, `ssh` is one SSH session
(paramiko, pinned host keys), `connect` opens one to a workspace's node, `configure` brings one
host to its files over that session, `fleet` configures every host in parallel, `roll` restarts
running agents one server at a time and clients in drained batches, in the order `order`
decides, and `confirm` checks over TLS that servers took their new files. May import cluster
(the API, for the roll's health checks), pki and the shared base; never providers, plan or cli.
"""
