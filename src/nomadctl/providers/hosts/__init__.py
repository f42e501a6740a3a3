"""The hosts provider: machines you already have (`--server/--client`), reached over SSH.

`provider` is the adapter behind `providers.base`: it uses the hosts as given and, on
`down`, takes off what nomadctl put there (`providers.ssh_agents`); the machines stay yours.
May import providers.base, providers.state, providers.ssh_agents, node, cluster, pki and the
shared base; never the other providers.
"""
