"""The local provider: a secured cluster as processes on this machine (`up --local`).

`provider` is the adapter behind `providers.base`; `net` picks the agents' addresses and
ports, `proc` starts, finds, signals and stops the processes, `files` keeps each agent's
directory, `agents` writes each agent's files and starts, reloads or restarts it. May import
providers.base, providers.state, node, cluster, pki and the shared base; never the other
providers.
"""
