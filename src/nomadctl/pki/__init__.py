"""The cluster's CA and certificates, as `nomad tls` makes them.

`issue` makes and reads keys and certificates (CA, server, client and cli leaves, gossip
key), `store` keeps them in the workspace (reuse what exists, never overwrite a CA, renew
before expiry, the trust bundle and leaves kept during a CA rotation), `expiry` reads how long
each has left. Imports only the shared base (workspace, errors) and cryptography.
"""
