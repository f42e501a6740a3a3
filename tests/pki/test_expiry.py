"""Certificate expiry as `status` reports it: every certificate found, soonest first, warned."""

import datetime as dt
from pathlib import Path

from nomadctl.pki import issue, store
from nomadctl.pki.expiry import WARN_DAYS, collect, warnings
from nomadctl.workspace import Workspace


def test_every_certificate_is_listed_soonest_first_and_warned_inside_30_days(
    tmp_path: Path,
) -> None:
    ws = Workspace(home=tmp_path / "home", cluster="demo").create()
    store.ensure(ws, store.CertOptions())
    ca = store.load_ca(ws)
    store.ensure_node_cert(
        ws, ca, name="demo-server-1", kind="server", region="global", addresses=["198.18.1.4"]
    )
    soon = issue.new_leaf(ca, "client", region="global", days=10)
    short = store.node_paths(ws, "demo-client-1")
    ws.write_public(short.cert, issue.cert_pem(soon.cert))
    ws.write_secret(short.key, issue.key_pem(soon.key))

    found = collect(ws.certs_dir)
    names = [e.name for e in found]
    assert names[0] == "demo-client-1"  # soonest first
    assert set(names) == {"demo-client-1", "demo-server-1", "cli", "CA"}
    assert all(e.kind in {"ca", "cli", "node"} for e in found)
    assert found[0].serial == format(soon.cert.serial_number, "x")
    [warning] = warnings(found)
    assert "demo-client-1" in warning and "expires in 9 days" in warning
    assert "nomadctl certs --renew" in warning

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=366 - WARN_DAYS + 1)
    assert {w.split(" of ")[1].split(" ")[0] for w in warnings(found, later)} == {
        "demo-client-1",
        "demo-server-1",
        "cli",
    }
    expired = warnings(found, dt.datetime.now(dt.UTC) + dt.timedelta(days=11))
    assert any("expired on" in w for w in expired)
    assert found[0].to_dict()["days_left"] in (9, 10)


def test_an_empty_or_damaged_directory_gives_what_can_be_read(tmp_path: Path) -> None:
    assert collect(tmp_path) == []
    (tmp_path / "nodes").mkdir()
    (tmp_path / "nodes" / "broken.pem").write_text("garbage")
    assert collect(tmp_path) == []
