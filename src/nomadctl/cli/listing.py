"""What `list` and `down` say of the clusters in the nomadctl home (issue 26 point 4): every
local, hosts and AWS workspace with its provider, where it runs, its node counts and whether
it is healthy; whether AWS can be asked at all (a region and credentials) before `list` or
`down` asks it; and the names a wrong `--cluster` is told about."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nomadctl.cli.ui import Ui
from nomadctl.workspace import known_text


def aws_unavailable(profile: str | None = None, region: str | None = None) -> str | None:
    """Why AWS cannot be asked because it is not set up on this machine (no region, no
    credentials), or None when it can. No request is made: the region and credentials are
    looked up as boto3 would; any other problem (a profile named but not found) raises."""
    from nomadctl.errors import NomadctlError
    from nomadctl.plan.words import aws_not_set_up
    from nomadctl.providers.aws.session import NO_CREDENTIALS, Aws

    try:
        aws = Aws(region, profile)
    except NomadctlError as exc:
        if aws_not_set_up(exc.message):
            return exc.message
        raise
    if aws.session.get_credentials() is None:
        return NO_CREDENTIALS
    return None


def _healthy(healthy: bool | None) -> str:
    return "-" if healthy is None else ("yes" if healthy else "no")


def workspaces(ui: Ui, home: Path, skip_aws: bool, json_output: bool) -> list[dict[str, Any]]:
    """The clusters of the home (AWS ones left to the AWS table when `skip_aws`): printed as a
    table, or returned as records for --json."""
    from nomadctl.plan.listing import clusters

    with ui.progress(f"Reading the clusters in {home}"):
        entries = [e for e in clusters(home) if not (skip_aws and e.provider == "aws")]
    if json_output:
        return [e.to_dict() for e in entries]
    if not entries:
        from rich.markup import escape

        ui.info(escape(f"no local or hosts clusters in {home}"))
        return []
    ui.table(
        f"Clusters in {home}",
        ["Cluster", "Provider", "Where", "Servers", "Clients", "Healthy", "Detail"],
        (
            (
                e.cluster,
                e.provider or "-",
                e.where,
                str(e.servers),
                str(e.clients),
                _healthy(e.healthy),
                e.problem,
            )
            for e in entries
        ),
        drop=("Detail", "Provider"),
    )
    return []


def nothing_to_delete(ui: Ui, home: Path, cluster: str, why: str, json_output: bool) -> None:
    """`down` of a cluster with no workspace when AWS cannot be asked: nothing to delete."""
    if json_output:
        ui.json({"command": "down", "cluster": cluster, "resources": [], "aws_not_searched": why})
    else:
        ui.out.print(f"Nothing to delete: no cluster {cluster!r} in {home}.", markup=False)
    from rich.markup import escape

    ui.info(escape(f"note: AWS was not searched for resources tagged {cluster!r} ({why})"))
    ui.info(escape(f"note: {known_text(home)}"))
