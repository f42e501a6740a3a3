"""A running cluster through its HTTP API.

`target` says where the API is (the workspace's servers, CA and token, or the Nomad CLI's
environment), `api` is the client (python-nomad over verified mutual TLS), `acl` bootstraps
ACLs and keeps the tokens, `operations` drains nodes, reads autopilot and raft and reloads
agents, `tls_probe` looks at a server's certificate over TLS, and `status` collects what
`nomadctl status` shows. May import pki and the shared base; never node, providers, plan or
cli (it knows nothing of SSH or of where hosts come from).
"""
