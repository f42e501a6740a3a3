"""The AWS provider: the cluster's EC2 infrastructure, found by its `nomadctl:cluster` tag.

`provider` is the adapter behind `providers.base`; `infra` applies, plans and lists (network,
firewall, key pair, IAM, instances, the API's load balancer) and `teardown` destroys, each
resource in a module of its own (`network`, `subnets`, `cidrs`, `security`, `keys`, `iam`,
`images`, `instances`, `launch`, `balancer`), on the
`session` and names/tags of `common`, with AWS's errors worded by `errors`. `costs` prices the
plan, `myip` finds the operator's public IP for the default `--allow-cidr`, and
`first_contact` pins a new instance's SSH host key from its console output. boto3 is
imported inside functions. May import providers.base, providers.state, providers.ssh_agents,
node, cluster, pki and the shared base; never the other providers.
"""
