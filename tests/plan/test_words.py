"""plan.words: the providers' facts read as `up` and `down` have always printed them, so the
words moved out of the providers without a user seeing a difference (issue 27, point 2)."""

from __future__ import annotations

from nomadctl.errors import CloudError, RemoteError
from nomadctl.hosts import Host
from nomadctl.plan import words
from nomadctl.providers.base import Destroyed, Forgotten, Reach, Resource

FIRST = Host("lab-server-1", "server", "198.18.0.10")


def test_where_down_places_each_kind() -> None:
    assert words.at("aws", "eu-west-1") == "in eu-west-1"
    assert words.at("static", None) == "on hosts you already have"
    assert words.at("local", None) == "on this machine"


def test_nothing_to_delete_names_the_cluster_and_the_place() -> None:
    aws = Destroyed(kind="aws", region="us-east-2")
    assert words.nothing(aws, "lab") == (
        "Nothing to delete: no resources tagged for 'lab' in us-east-2."
    )
    assert words.nothing(Destroyed(kind="local"), "lab") == (
        "Nothing to delete: cluster 'lab' runs nothing here."
    )
    assert words.nothing(Destroyed(kind="static"), "lab") == (
        "Nothing to remove: cluster 'lab' has no hosts recorded."
    )


def _hosts(*records: tuple[str, str, str]) -> Destroyed:
    return Destroyed(
        [Resource("host", n, ip, status, why) for n, ip, status, why in records],
        kind="static",
        wait=10.0,
        summary={"hosts": []},
    )


def test_hosts_you_keep_get_their_notes_and_their_error() -> None:
    done = _hosts(
        ("lab-server-1", "198.18.0.10", "cleaned", ""),
        ("lab-client-1", "198.18.0.11", "skipped", "no answer"),
    )
    done.force = True
    assert words.notes(done, "lab") == [
        "skipped 1 host(s) that did not answer within 10s and removed them from cluster "
        "'lab': lab-client-1 (198.18.0.11); if one comes back, nomadctl's files are still on it",
        "Nomad stopped and removed from 1 host(s); the machines are yours",
    ]
    assert words.error(done) is None

    left = _hosts(("lab-server-1", "198.18.0.10", "failed", "no answer"))
    left.errors, left.unreachable = ["lab-server-1: no answer"], ["lab-server-1"]
    error = words.error(left)
    assert isinstance(error, RemoteError)
    assert error.message == (
        "could not clean lab-server-1: no answer; re-run `nomadctl down`, or `nomadctl down "
        "--force` to skip hosts that are gone for good"
    )
    assert words.notes(left, "lab") == []  # no "the machines are yours" while one is left


def test_a_dry_run_has_no_notes() -> None:
    found = Destroyed([Resource("host", "lab-server-1", "198.18.0.10", "remove")], kind="static")
    assert words.notes(found, "lab") == [] and words.error(found) is None


def test_aws_leftovers_and_an_unreadable_state_set_aside() -> None:
    done = Destroyed(
        [Resource("internet-gateway", "lab", "igw-1", "failed", "DependencyViolation")],
        kind="aws",
        region="eu-west-1",
    )
    error = words.error(done)
    assert isinstance(error, CloudError)
    assert error.message == (
        "could not delete 1 resource(s), e.g. internet-gateway igw-1: DependencyViolation; "
        "fix that and re-run `nomadctl down`"
    )
    done = Destroyed(kind="aws", moved_aside="/w/lab/state.json.damaged")
    assert words.notes(done, "lab") == [
        "note: the unreadable state was moved to /w/lab/state.json.damaged"
    ]


def test_local_agents_left_behind_end_down_with_the_first() -> None:
    done = Destroyed(kind="local", errors=["server-1: agent (pid 7) did not stop"])
    error = words.error(done)
    assert isinstance(error, RemoteError)
    assert error.message.startswith("could not delete everything: server-1: agent (pid 7)")


def test_forget_outcomes() -> None:
    assert words.forgotten(Forgotten("hosts", hosts=2, kept=1)) == "2 host(s) forgotten, 1 kept"
    assert words.forgotten(Forgotten("hosts", hosts=3)) == "3 host(s) forgotten"
    assert words.forgotten(Forgotten("moved aside", aside="/x")) == "unreadable state moved to /x"
    assert words.forgotten(Forgotten("forgotten")) == "hosts and tokens forgotten"


def test_summary_ways_in_per_kind() -> None:
    assert words.summary_lines("lab", FIRST, Reach(ssh=True)) == [
        "SSH:      nomadctl --cluster lab ssh lab-server-1"
    ]
    local = Reach(ssh=False, logs=True, drivers=("docker",), sample_jobs=("whoami",))
    assert words.summary_lines("lab", FIRST, local) == [
        "Logs:     nomadctl --cluster lab logs lab-server-1",
        "Jobs:     clients' drivers: docker; sample jobs that run: whoami",
        "Stop:     nomadctl --cluster lab down --yes",
    ]
    none = Reach(ssh=False, logs=True, drivers=())
    assert words.jobs(none) == "no task driver (no Docker daemon, not root): no sample job will run"
    assert words.resources_label("aws") == "AWS" and words.resources_label("local") == ""
