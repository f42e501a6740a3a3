"""`nomadctl ui` in a real headless Chromium (Debian's `chromium`, installed by .ci/run), against
a local cluster of stand-in agents (issue 26 point 7).

The browser gets only the address `nomadctl ui --no-open` prints: a plain-HTTP loopback
proxy. The agents demand a client certificate the browser does not have, so a page that
loads and signs in came through the proxy. The stand-in's test page at /ui/ exchanges the
one-time token as Nomad's UI does and shows "Signed in as <token name>"; the agent logs the
exchange (never the secret).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.providers.local.test_local_cli import agent_pids, nomadctl
from tests.standin import make_binary

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@pytest.fixture(scope="module")
def ui_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("uicli")
    home, binary = tmp / "home", make_binary(tmp / "bin" / "nomad")
    try:
        up = nomadctl(
            home, "up", "--local", "--nomad-binary", str(binary), "--servers", "1",
            "--clients", "1", "--yes",
        )  # fmt: skip
        assert up.returncode == 0, up.stderr
        yield home
    finally:
        nomadctl(home, "down", "--yes")
        for pid in agent_pids(binary):
            os.kill(pid, 9)


def start_ui(
    home: Path, *args: str, opening: bool = False, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "NOMADCTL_HOME": str(home),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
        **(extra_env or {}),
    }
    flags = [] if opening else ["--no-open"]
    return subprocess.Popen(
        [sys.executable, "-m", "nomadctl", "--cluster", "lc", "ui", *flags, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env=env,
    )  # fmt: skip


def cmdlines_with(secret: str) -> list[str]:
    """Every process whose argv holds `secret` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if secret.encode() in cmdline:
                found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def chromium_dom(url: str, profile: Path) -> str:
    """The page's DOM once its scripts and fetches are done (virtual time stops while a
    request is pending, so the budget is not a wait on the clock)."""
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: .ci/run installs Debian's chromium package"
    profile.mkdir()
    proc = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=30000",
         "--dump-dom", url],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_browser_signs_in_through_the_proxy_and_ctrl_c_stops_it(
    ui_cluster: Path, tmp_path: Path
) -> None:
    home = ui_cluster
    ui = start_ui(home)
    try:
        assert ui.stdout is not None
        url = ui.stdout.readline().strip()
        parts = urlsplit(url)
        assert parts.scheme == "http" and parts.hostname == "127.0.0.1", url
        assert parts.path == "/ui/settings/tokens"
        secret = parse_qs(parts.query)["ott"][0]
        assert cmdlines_with(secret) == []  # not in nomadctl's argv, nor anyone's

        dom = chromium_dom(url, tmp_path / "profile")
        assert "Nomad stand-in UI" in dom  # the page came through the proxy ...
        assert "Signed in as lc-user" in dom, dom  # ... and the exchange signed it in

        logs = "".join(p.read_text() for p in (home / "lc" / "local").glob("*/nomad.log"))
        assert "one-time token exchanged" in logs and "name='lc-user'" in logs
        assert secret not in logs

        # One time only: the same secret again, through the proxy, is refused as Nomad does.
        conn = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=30)
        body = json.dumps({"OneTimeSecretID": secret})
        conn.request("POST", "/v1/acl/token/onetime/exchange", body=body)
        again = conn.getresponse()
        assert (again.status, again.read()) == (403, b"Permission denied")
        conn.close()

        ui.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = ui.communicate(timeout=60)
    finally:
        if ui.poll() is None:
            ui.kill()
            ui.wait()
    assert ui.returncode == 0, err
    assert "proxy stopped" in err and "interrupted" not in err
    assert secret not in err + out
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", parts.port), timeout=5).close()


def test_opened_browser_gets_no_secret_on_its_command_line(
    ui_cluster: Path, tmp_path: Path
) -> None:
    """Without --no-open: the browser ($BROWSER, as Python's webbrowser reads it) is started
    on a once-only address of the proxy that redirects to the signed-in page."""
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: .ci/run installs Debian's chromium package"
    (tmp_path / "profile").mkdir()
    browser = tmp_path / "browser"
    browser.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$0" "$@" > {tmp_path}/argv\n'
        f"exec {chromium} {' '.join(CHROMIUM_FLAGS)} --user-data-dir={tmp_path}/profile "
        f'--virtual-time-budget=30000 --dump-dom "$1" > {tmp_path}/dom 2> {tmp_path}/chromium.err\n'
    )
    browser.chmod(0o700)
    ui = start_ui(ui_cluster, opening=True, extra_env={"BROWSER": str(browser)})
    try:
        assert ui.stderr is not None
        lines = []
        for line in ui.stderr:  # webbrowser.open returns once the browser command ends
            lines.append(line)
            if "opened http://127.0.0.1:" in line or "error" in line:
                break
        assert "with a one-time sign-in token" in lines[-1], lines
        dom = (tmp_path / "dom").read_text()
        assert "Signed in as lc-user" in dom, dom + (tmp_path / "chromium.err").read_text()[-2000:]
        argv = (tmp_path / "argv").read_text()
        assert "/nomadctl/open/" in argv and "ott" not in argv

        # The launch address is spent: a second visit is refused, the secret not handed out.
        launch = urlsplit(argv.splitlines()[1])
        conn = http.client.HTTPConnection("127.0.0.1", launch.port, timeout=30)
        conn.request("GET", launch.path)
        again = conn.getresponse()
        assert again.status == 410 and again.getheader("Location") is None
        again.read()
        conn.close()
        ui.send_signal(signal.SIGINT)
        out, err = ui.communicate(timeout=60)
    finally:
        if ui.poll() is None:
            ui.kill()
            ui.wait()
    assert ui.returncode == 0, err
    assert out == "" and "ott=" not in "".join(lines) + err


def test_port_option_and_loopback_only(ui_cluster: Path) -> None:
    with socket.socket() as probe:  # a port that is free now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ui = start_ui(ui_cluster, "--port", str(port), "--address", "127.0.0.2")
    try:
        assert ui.stdout is not None
        url = ui.stdout.readline().strip()
        assert url.startswith(f"http://127.0.0.2:{port}/ui/settings/tokens?ott="), url
        ui.send_signal(signal.SIGTERM)
        _, err = ui.communicate(timeout=60)
    finally:
        if ui.poll() is None:
            ui.kill()
            ui.wait()
    assert ui.returncode == 0, err

    refused = nomadctl(ui_cluster, "ui", "--no-open", "--address", "0.0.0.0")
    assert refused.returncode == 2
    assert "not a loopback address" in refused.stderr and refused.stdout == ""


def test_ui_of_a_cluster_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    proc = nomadctl(tmp_path / "empty", "ui", "--no-open")
    assert proc.returncode == 3, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == ""


def _call(port: int, method: str, path: str, token: str, body: object = None) -> object:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = None if body is None else json.dumps(body)
        conn.request(method, path, body=data, headers={"X-Nomad-Token": token})
        resp = conn.getresponse()
        text = resp.read()
        assert resp.status == 200, (path, resp.status, text)
        return json.loads(text)
    finally:
        conn.close()


def _exec_frames(url: str, origin: str, token: str, stdin: bytes) -> list[dict[str, object]]:
    """What Nomad's UI does (exec-socket-xterm-adapter.js): the handshake with the token, the
    terminal size, stdin; then every message until the agent closes the connection."""
    import base64

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    frames: list[dict[str, object]] = []
    with connect(url, origin=origin, open_timeout=30) as ws:  # type: ignore[arg-type]
        try:  # the agent may close before the last input is sent (a refused token)
            ws.send(json.dumps({"version": 1, "auth_token": token}))
            ws.send(json.dumps({"tty_size": {"width": 80, "height": 24}}))
            ws.send(json.dumps({"stdin": {"data": base64.b64encode(stdin).decode()}}))
            ws.send(json.dumps({"stdin": {"close": True}}))
            while True:
                frames.append(json.loads(ws.recv(timeout=60)))
        except ConnectionClosed as closed:
            if closed.rcvd is not None:
                frames.append({"close": [closed.rcvd.code, closed.rcvd.reason]})
    return frames


def test_exec_terminal_websocket_goes_through_the_proxy_from_its_own_pages_only(
    ui_cluster: Path,
) -> None:
    """The UI's exec terminal (a WebSocket) through the proxy: a command the agent runs for
    real gets stdin and answers in Nomad's frames; an upgrade from a page of another origin
    is refused by the proxy and never reaches the cluster."""
    import base64
    from urllib.parse import quote

    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    from tests.standin.harness import wait_for

    ui = start_ui(ui_cluster, "--management")
    try:
        assert ui.stdout is not None
        parts = urlsplit(ui.stdout.readline().strip())
        port, secret = parts.port or 0, parse_qs(parts.query)["ott"][0]
        got = _call(port, "POST", "/v1/acl/token/onetime/exchange", "", {"OneTimeSecretID": secret})
        token = got["Token"]["SecretID"]  # type: ignore[index]
        task = {"Name": "sh", "Driver": "raw_exec", "Config": {"command": "sleep"}}
        job = {"ID": "term", "Name": "term", "Type": "service", "Datacenters": ["dc1"],
               "TaskGroups": [{"Name": "g", "Count": 1, "Tasks": [task]}]}  # fmt: skip
        _call(port, "PUT", "/v1/jobs", token, {"Job": job})
        node = _call(port, "GET", "/v1/nodes", token)[0]["ID"]  # type: ignore[index]
        allocs = wait_for(
            lambda: _call(port, "GET", f"/v1/node/{node}/allocations", token),
            timeout=30,
            what="the job's allocation",
        )
        alloc = allocs[0]["ID"]
        base = f"ws://127.0.0.1:{port}/v1/client/allocation/{alloc}/exec"
        url = f"{base}?task=sh&tty=true&ws_handshake=true&command={quote(json.dumps(['cat']))}"
        own = f"http://127.0.0.1:{port}"

        frames = _exec_frames(url, own, token, b"hello through the proxy\n")
        out = b"".join(
            base64.b64decode(f["stdout"]["data"])  # type: ignore[index]
            for f in frames
            if "data" in f.get("stdout", {})  # type: ignore[operator]
        )
        assert out == b"hello through the proxy\n", frames
        assert frames[-2:] == [{"stdout": {"close": True}}, {"exited": True, "result": {}}]

        # The token of the handshake is what the agent checks: none, no exec.
        refused = _exec_frames(url, own, "", b"")
        assert refused == [{"close": [1011, "Permission denied"]}]

        # A page of another site (or a sandboxed one, Origin `null`) cannot open it.
        for origin in ("http://evil.example", "null", f"https://127.0.0.1:{port}"):
            with pytest.raises(InvalidStatus) as err:
                connect(url, origin=origin, open_timeout=30).close()  # type: ignore[arg-type]
            assert err.value.response.status_code == 403
            assert b"cross-origin" in err.value.response.body

        # Ctrl-C with a terminal open: the proxy stops, and the terminal's connection ends.
        with connect(url, origin=own, open_timeout=30) as ws:  # type: ignore[arg-type]
            ws.send(json.dumps({"version": 1, "auth_token": token}))
            ws.send(json.dumps({"stdin": {"data": base64.b64encode(b"open\n").decode()}}))
            echoed = json.loads(ws.recv(timeout=60))
            assert base64.b64decode(echoed["stdout"]["data"]) == b"open\n"
            ui.send_signal(signal.SIGINT)
            _, err_text = ui.communicate(timeout=60)
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=60)
    finally:
        if ui.poll() is None:
            ui.kill()
            ui.wait()
    assert ui.returncode == 0, err_text
    logs = "".join(p.read_text() for p in (ui_cluster / "lc" / "local").glob("*/nomad.log"))
    assert logs.count("task exec session starting") == 2  # the refused ones never got there
    assert logs.count("task exec session ended with an error: error='Permission denied'") == 1


def _stderr_until(ui: subprocess.Popen[str], words: str) -> str:
    assert ui.stderr is not None
    for line in ui.stderr:
        if words in line:
            return line
    raise AssertionError(f"nomadctl ui ended without saying {words!r}")


def test_a_used_address_and_a_deleted_token_are_recovered_on_the_terminal(
    ui_cluster: Path,
) -> None:
    """Runs last in this module: it deletes the user token and makes a new one. The browser
    keeps getting Nomad's answers; the terminal gets a new sign-in address (stdout) or says
    what to do (`nomadctl acl-bootstrap`), and after that the next refusal signs in anew."""
    ui = start_ui(ui_cluster)
    try:
        assert ui.stdout is not None
        parts = urlsplit(ui.stdout.readline().strip())
        port, first = parts.port or 0, parse_qs(parts.query)["ott"][0]
        ott = {"OneTimeSecretID": first}
        user = _call(port, "POST", "/v1/acl/token/onetime/exchange", "", ott)["Token"]  # type: ignore[index]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/v1/acl/token/onetime/exchange", body=json.dumps(ott))
        again = conn.getresponse()
        assert (again.status, again.read()) == (403, b"Permission denied")  # Nomad's answer
        conn.close()
        assert "opened again (it signs in once)" in _stderr_until(ui, "sign-in address")
        second = parse_qs(urlsplit(ui.stdout.readline().strip()).query)["ott"][0]
        ott = {"OneTimeSecretID": second}
        same = _call(port, "POST", "/v1/acl/token/onetime/exchange", "", ott)["Token"]  # type: ignore[index]
        assert same["AccessorID"] == user["AccessorID"]

        management = json.loads((ui_cluster / "lc" / "tokens" / "management.json").read_text())
        _call(port, "DELETE", f"/v1/acl/token/{user['AccessorID']}", management["SecretID"])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/v1/jobs", headers={"X-Nomad-Token": user["SecretID"]})
        gone = conn.getresponse()
        assert (gone.status, gone.read()) == (403, b"ACL token not found")
        conn.close()
        line = _stderr_until(ui, "no longer accepts")
        assert "warning:" in line and "nomadctl acl-bootstrap" in line, line

        bootstrap = nomadctl(ui_cluster, "acl-bootstrap")
        assert bootstrap.returncode == 0, bootstrap.stderr
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/v1/jobs", headers={"X-Nomad-Token": user["SecretID"]})
        assert conn.getresponse().status == 403  # the page reloaded with its old token
        conn.close()
        assert "sign in with this new address" in _stderr_until(ui, "no longer accepts")
        third = parse_qs(urlsplit(ui.stdout.readline().strip()).query)["ott"][0]
        ott = {"OneTimeSecretID": third}
        renewed = _call(port, "POST", "/v1/acl/token/onetime/exchange", "", ott)["Token"]  # type: ignore[index]
        assert renewed["Name"] == "lc-user" and renewed["AccessorID"] != user["AccessorID"]
        ui.send_signal(signal.SIGINT)
        out, err = ui.communicate(timeout=60)
    finally:
        if ui.poll() is None:
            ui.kill()
            ui.wait()
    assert ui.returncode == 0, err
    for secret in (first, second, third, user["SecretID"], renewed["SecretID"]):
        assert secret not in err + out
