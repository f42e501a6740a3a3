"""`down` on AWS: everything tagged for the cluster in the region, deleted in dependency order.

The load balancer goes first (its network interfaces hold the subnets until it is gone), then
the instances (waited for until terminated), the instance profile and role, the security
groups, the key pair, volumes left behind, and the network. No state is needed: every
resource is found by its `nomadctl:cluster` tag, so `down` works after a lost state.json and
a second `down` finds nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from nomadctl.providers.aws import balancer as aws_balancer
from nomadctl.providers.aws import iam as aws_iam
from nomadctl.providers.aws import instances as aws_instances
from nomadctl.providers.aws import keys
from nomadctl.providers.aws import network as aws_network
from nomadctl.providers.aws import security as aws_security
from nomadctl.providers.aws.common import Resource, Teardown
from nomadctl.providers.aws.errors import translated
from nomadctl.providers.aws.session import Aws


def _quiet(_: str) -> None:
    return None


def destroy(
    cluster: str,
    region: str | None,
    progress: Callable[[str], None] = _quiet,
    *,
    profile: str | None = None,
    dry_run: bool = False,
) -> list[Resource]:
    """Delete everything tagged for `cluster` in `region`, in dependency order.

    Never raises for a resource that cannot be deleted: it comes back with status "failed"
    and the reason, and everything that does not depend on it is still deleted.
    """

    aws = Aws(region, profile)
    aws.check_credentials()
    down = Teardown(aws=aws, cluster=cluster, progress=progress, dry_run=dry_run)
    with translated(aws):
        aws_balancer.destroy_balancers(down)
        aws_instances.destroy_instances(down)
        if down.failed:
            return down.resources  # everything else is still in use by those instances
        aws_iam.destroy_instance_profile(down)
        aws_security.destroy_security_groups(down)
        keys.destroy_key_pairs(down)
        aws_instances.destroy_volumes(down)
        aws_network.destroy_network(down)
    return down.resources
