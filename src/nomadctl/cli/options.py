"""Option types and helpers shared by several commands, declared once.

Real annotations (no `from __future__ import annotations`): Typer reads them at import.
"""

from typing import Annotated

import typer

from nomadctl.cli.ui import Ui, status_cell

AwsRegion = Annotated[
    str | None,
    typer.Option(
        "--region",
        help="AWS region.  [default: the cluster's recorded region, else AWS_REGION, "
        "AWS_DEFAULT_REGION or your AWS profile's]",
        show_default=False,
    ),
]
AwsProfile = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="AWS profile from ~/.aws/config.  [default: AWS_PROFILE, else the default chain]",
        show_default=False,
    ),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
NoSnapshot = Annotated[
    bool,
    typer.Option(
        "--no-snapshot",
        rich_help_panel="Day 2",
        help="Take no automatic raft snapshot first (and go ahead when one would fail).",
    ),
]
SnapshotTo = Annotated[
    str,
    typer.Option(
        rich_help_panel="Day 2",
        metavar="s3://BUCKET/PREFIX",
        help="Also copy each automatic snapshot to S3, encrypted with KMS (aws:kms).",
    ),
]
KeepSnapshots = Annotated[
    int,
    typer.Option(
        rich_help_panel="Day 2",
        min=1,
        help="Automatic snapshots kept in the workspace; older ones are pruned (never those "
        "taken by hand).",
    ),
]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


RESOURCE_COLUMNS = ["Resource", "ID", "Status", "Detail"]
NOMAD_VERSION = "1.11.1"  # pinned default of `up --nomad-version`


def _resource_rows(resources: list, cluster: str) -> list[tuple]:  # type: ignore[type-arg]
    """One row per resource, narrow enough for 80 columns: instances by name, the rest by
    kind, with a name other than `nomadctl-<cluster>` leading the detail."""
    rows = []
    for r in resources:
        detail = r.detail
        if r.kind not in ("instance", "host", "agent") and r.name != f"nomadctl-{cluster}":
            detail = f"{r.name}: {detail}" if detail else r.name
        label = r.name if r.kind in ("instance", "host", "agent") else r.kind
        rows.append((label, r.id or "", status_cell(r.status), detail))
    return rows


def _confirm(ui: Ui, question: str) -> None:
    if not typer.confirm(question, default=False, err=True):
        ui.info("cancelled; nothing was changed")
        raise typer.Exit(1)
