"""Where hosts come from. Each provider returns `nomadctl.hosts.Host` records.

- `aws`: creates (and deletes) the cluster's EC2 infrastructure, found by tags.

Provider modules import boto3 lazily (inside functions) so that `nomadctl --help` stays fast.
"""
