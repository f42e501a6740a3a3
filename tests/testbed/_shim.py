#!/usr/bin/python3
"""systemctl / journalctl STAND-IN for the test network's hosts. This is not systemd.

Installed by the testbed as /usr/local/sbin/systemctl and /usr/local/sbin/journalctl inside
every test host (and bound over /usr/bin/systemctl and /usr/bin/journalctl there), so that
nomadctl's unit handling runs unchanged against hosts that have no systemd.

It only knows unit files under /etc/systemd/system/<name>.service and reads from them:
ExecStart (last one wins, prefixes @-:+! ignored), ExecStartPre, ExecReload, Environment,
EnvironmentFile, User, Group, WorkingDirectory, Type (simple/exec/forking treated as simple,
oneshot run to completion, notify: the main process gets NOTIFY_SOCKET, a datagram socket,
and `start` returns only once it sends READY=1, failing if it exits first or sends nothing
within TimeoutStartSec, default 90 s; meanwhile is-active says "activating", as systemd does),
RemainAfterExit, KillSignal, KillMode, TimeoutStopSec,
Description. Everything else (Restart=, limits, dependencies, targets) is ignored: in
particular a unit whose process dies stays dead ("failed"), so fault tests stay faulty.

State lives in /run/testbed-shim (a tmpfs private to the host): <unit>.pid ("pid starttime"),
<unit>.log (stdout+stderr of the unit, appended, plus "testbed-shim:" lines), <unit>.enabled,
<unit>.stopped, <unit>.exit (written by the host's anchor process when it reaps the main
process). The main process is started detached (new session) with a clean systemd-like
environment.

Commands: daemon-reload, enable [--now], disable [--now], start, stop, restart, try-restart,
reload, reload-or-restart, kill [-s SIG], is-active, is-enabled, is-failed, status, show
[-p PROP] [--value], reset-failed, cat, --version. journalctl: -u UNIT [-n N] (prints the log).
"""

from __future__ import annotations

# Heavier modules are imported where used: the shim runs several times per host and `up`,
# and `is-active`, `enable`, `daemon-reload` need none of them (about 20 ms less each).
import os
import signal
import sys
import time

STATE = "/run/testbed-shim"
CONTROL = os.path.join(STATE, ".control.sock")
UNIT_DIR = "/etc/systemd/system"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
QUIET = False


def err(msg: str) -> None:
    sys.stderr.write(msg + "\n")


def out(msg: str) -> None:
    if not QUIET:
        sys.stdout.write(msg + "\n")


def full_name(arg: str) -> str:
    arg = os.path.basename(arg)
    return arg if "." in arg else arg + ".service"


def base(unit: str) -> str:
    return unit[: -len(".service")] if unit.endswith(".service") else unit


def path(unit: str, ext: str) -> str:
    return os.path.join(STATE, f"{base(unit)}.{ext}")


def unit_file(unit: str) -> str:
    return os.path.join(UNIT_DIR, unit)


def parse_unit(unit: str) -> dict[str, list[str]] | None:
    """Return {Key: [values...]} of the [Service] and [Unit] sections, or None if missing."""
    import re

    try:
        with open(unit_file(unit)) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    text = re.sub(r"\\\n", " ", text)
    keys: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if "=" not in line or section not in ("Service", "Unit"):
            continue
        k, v = line.split("=", 1)
        k, v = k.strip(), v.strip()
        if v == "" and k.startswith("Exec"):
            keys[k] = []  # an empty assignment resets the list
            continue
        keys.setdefault(k, []).append(v)
    return keys


def last(keys: dict[str, list[str]], k: str, default: str = "") -> str:
    vals = keys.get(k) or []
    return vals[-1] if vals else default


def proc_info(pid: int) -> tuple[str, str] | None:
    """(state, starttime) of a process, None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], fields[19]


def read_pid(unit: str) -> tuple[int, str] | None:
    try:
        with open(path(unit, "pid")) as f:
            pid_s, start = f.read().split()
        return int(pid_s), start
    except (OSError, ValueError):
        return None


def main_pid(unit: str) -> int | None:
    """The unit's main pid if that process is alive (zombies count as dead)."""
    rec = read_pid(unit)
    if rec is None:
        return None
    info = proc_info(rec[0])
    if info is None or info[0] in ("Z", "X") or info[1] != rec[1]:
        return None
    return rec[0]


def exit_code(unit: str) -> int | None:
    try:
        with open(path(unit, "exit")) as f:
            return int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None


def active_state(unit: str) -> str:
    if main_pid(unit) is not None:
        return "activating" if os.path.exists(path(unit, "activating")) else "active"
    if os.path.exists(path(unit, "remain")):
        return "active"
    if read_pid(unit) is None or os.path.exists(path(unit, "stopped")):
        return "inactive"
    code = exit_code(unit)
    return "inactive" if code == 0 else "failed"


def is_enabled(unit: str) -> bool:
    return os.path.exists(path(unit, "enabled"))


def shim_log(unit: str, msg: str) -> None:
    with open(path(unit, "log"), "a") as f:
        f.write(f"testbed-shim: {time.strftime('%Y-%m-%dT%H:%M:%S')} {unit}: {msg}\n")


def rm(*paths: str) -> None:
    import contextlib

    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)


def expand(arg: str, env: dict[str, str]) -> list[str]:
    """systemd-style: "$VAR" alone splits into words, "${VAR}" is substituted in place,
    "$$" is a literal "$"."""
    import re

    m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", arg)
    if m:
        return env.get(m.group(1), "").split()

    def sub(mm: re.Match) -> str:
        return "$" if mm.group(0) == "$$" else env.get(mm.group(1), "")

    return [re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, arg)]


def command_line(line: str, env: dict[str, str]) -> list[str]:
    import shlex

    line = line.lstrip("@-:+!")
    argv: list[str] = []
    for word in shlex.split(line):
        argv.extend(expand(word, env))
    return argv


def service_env(keys: dict[str, list[str]]) -> dict[str, str]:
    import pwd
    import shlex

    env = {"PATH": DEFAULT_PATH, "LANG": os.environ.get("LANG", "C.UTF-8")}
    user = last(keys, "User")
    if user:
        try:
            pw = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
            env.update(HOME=pw.pw_dir, USER=pw.pw_name, LOGNAME=pw.pw_name, SHELL=pw.pw_shell)
        except KeyError:
            pass
    else:
        env.update(HOME="/root", USER="root", LOGNAME="root", SHELL="/bin/sh")
    for ef in keys.get("EnvironmentFile", []):
        optional = ef.startswith("-")
        try:
            with open(ef.lstrip("-")) as f:
                for raw in f:
                    line = raw.strip()
                    if not line or line[0] in "#;" or "=" not in line:
                        continue
                    k, v = line.split("=", 1)
                    v = v.strip()
                    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                        v = v[1:-1]
                    env[k.strip()] = v
        except OSError:
            if not optional:
                raise
    for spec in keys.get("Environment", []):
        for assignment in shlex.split(spec):
            if "=" in assignment:
                k, v = assignment.split("=", 1)
                env[k] = v
    return env


def spawn_kwargs(keys: dict[str, list[str]], log_f) -> dict:
    import grp
    import pwd
    import subprocess

    kw: dict = {
        "stdin": subprocess.DEVNULL,
        "stdout": log_f,
        "stderr": subprocess.STDOUT,
        "start_new_session": True,
        "close_fds": True,
        "cwd": last(keys, "WorkingDirectory", "/").lstrip("-") or "/",
    }
    user = last(keys, "User")
    group = last(keys, "Group")
    if user:
        kw["user"] = user
        if not group:
            pw = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
            kw["group"] = pw.pw_gid
            kw["extra_groups"] = [g.gr_gid for g in grp.getgrall() if pw.pw_name in g.gr_mem]
    if group:
        kw["group"] = group
    return kw


def need_root(verb: str, unit: str) -> bool:
    if os.geteuid() != 0:
        err(f"Failed to {verb} {unit}: Access denied")
        return False
    return True


def start(unit: str) -> int:
    import subprocess

    if not need_root("start", unit):
        return 1
    if main_pid(unit) is not None:
        return 0
    keys = parse_unit(unit)
    if keys is None:
        err(f"Failed to start {unit}: Unit {unit} not found.")
        return 5
    os.makedirs(STATE, exist_ok=True)
    rm(path(unit, "stopped"), path(unit, "exit"), path(unit, "pid"), path(unit, "remain"))
    try:
        env = service_env(keys)
    except OSError as e:
        shim_log(unit, f"failed to load environment: {e}")
        err(f"Job for {unit} failed. See the unit log {path(unit, 'log')}.")
        return 1
    with open(path(unit, "log"), "ab") as log_f:
        try:
            kw = spawn_kwargs(keys, log_f)
        except KeyError as e:
            shim_log(unit, f"failed to determine user credentials: no such user/group {e}")
            with open(path(unit, "exit"), "w") as f:
                f.write("0 217\n")
            with open(path(unit, "pid"), "w") as f:
                f.write("0 0\n")
            err(f"Job for {unit} failed because the control process exited with error code.")
            return 1
        for pre in keys.get("ExecStartPre", []):
            argv = command_line(pre, env)
            ignore = pre.lstrip("@:+!").startswith("-")
            rc = subprocess.call(argv, env=env, **{**kw, "start_new_session": False})
            if rc != 0 and not ignore:
                shim_log(unit, f"ExecStartPre {argv} failed with {rc}")
                with open(path(unit, "exit"), "w") as f:
                    f.write(f"0 {rc}\n")
                with open(path(unit, "pid"), "w") as f:
                    f.write("0 0\n")
                err(f"Job for {unit} failed because the control process exited with error code.")
                return 1
        execs = keys.get("ExecStart", [])
        if not execs:
            err(f"Failed to start {unit}: Unit {unit} has no ExecStart= setting.")
            return 1
        argv = command_line(execs[-1], env)
        typ = last(keys, "Type", "simple")
        notify = open_notify(unit, env) if typ == "notify" else None
        try:
            pid = spawn_via_anchor(unit, argv, env, keys)
            proc = None if pid is not None else subprocess.Popen(argv, env=env, **kw)
        except (OSError, KeyError, ValueError) as e:
            shim_log(unit, f"failed to execute {argv}: {e}")
            with open(path(unit, "exit"), "w") as f:
                f.write(f"0 {203}\n")
            with open(path(unit, "pid"), "w") as f:
                f.write("0 0\n")
            err(f"Job for {unit} failed because the control process exited with error code.")
            return 1
    if proc is not None:
        pid = proc.pid
        info = proc_info(pid)
        with open(path(unit, "pid") + ".tmp", "w") as f:
            f.write(f"{pid} {info[1] if info else 0}\n")
        os.rename(path(unit, "pid") + ".tmp", path(unit, "pid"))
    shim_log(unit, f"started {argv} as pid {pid}")
    if notify is not None:
        return wait_ready(unit, notify, keys)
    if typ == "oneshot":
        if proc is not None:
            code = proc.wait()
            with open(path(unit, "exit"), "w") as f:
                f.write(f"{pid} {code}\n")
        else:
            while (code := exit_code(unit)) is None:
                time.sleep(0.02)
        if code != 0:
            err(f"Job for {unit} failed because the control process exited with error code.")
            return 1
        if last(keys, "RemainAfterExit", "no").lower() in ("yes", "true", "1", "on"):
            open(path(unit, "remain"), "w").close()
        return 0
    if proc is not None:
        proc.returncode = 0  # once we exit, the host's anchor process reaps it, not us
    return 0


class SpawnError(OSError):
    pass


def open_notify(unit: str, env: dict[str, str]):
    """A fresh datagram socket for sd_notify messages; its path goes into NOTIFY_SOCKET."""
    import socket

    sock_path = path(unit, "notify")
    rm(sock_path, path(unit, "activating"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    # Any unit user may notify, as with systemd's own socket (srwxrwxrwx /run/systemd/notify):
    # a unit with User= (a server running as nomad) sends READY=1 too.
    os.chmod(sock_path, 0o666)
    env["NOTIFY_SOCKET"] = sock_path
    open(path(unit, "activating"), "w").close()
    return sock


def wait_ready(unit: str, sock, keys) -> int:
    """Type=notify: active once READY=1 arrives; failed if the process dies or times out."""
    timeout = parse_seconds(last(keys, "TimeoutStartSec", "90"), 90.0)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            sock.settimeout(0.1)
            try:
                msg = sock.recv(4096).decode(errors="replace")
            except OSError:
                msg = ""
            if "READY=1" in msg.split("\n"):
                shim_log(unit, "ready (READY=1 received)")
                return 0
            if main_pid(unit) is None:
                shim_log(unit, "main process exited before it notified READY=1")
                break
        else:
            shim_log(unit, f"no READY=1 within {timeout:g}s: stopping it")
            stop(unit)
            with open(path(unit, "exit"), "w") as f:
                f.write("0 1\n")
    finally:
        sock.close()
        rm(path(unit, "activating"))
    err(f"Job for {unit} failed because the control process exited with error code.")
    return 1


def parse_seconds(text: str, default: float) -> float:
    text = text.strip().lower()
    for suffix, factor in (("ms", 0.001), ("min", 60.0), ("s", 1.0), ("m", 60.0)):
        if text.endswith(suffix):
            text, mult = text[: -len(suffix)], factor
            break
    else:
        mult = 1.0
    try:
        return float(text) * mult
    except ValueError:
        return default


def spawn_via_anchor(unit: str, argv: list[str], env: dict[str, str], keys) -> int | None:
    """Ask the host's anchor process (our "pid 1") to start the main process, so that it is
    reaped there and its exit status recorded whoever ran systemctl. None: no anchor."""
    import json
    import socket

    request = {
        "argv": argv,
        "env": env,
        "cwd": last(keys, "WorkingDirectory", "/").lstrip("-") or "/",
        "user": last(keys, "User") or None,
        "group": last(keys, "Group") or None,
        "log": path(unit, "log"),
        "pidfile": path(unit, "pid"),
    }
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(30)
        try:
            sock.connect(CONTROL)
        except OSError:
            return None
        sock.sendall(b"spawn " + json.dumps(request).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            buf += chunk
    finally:
        sock.close()
    status, _, rest = buf.decode().strip().partition(" ")
    if status != "ok":
        raise SpawnError(rest or "no answer from the host's anchor process")
    return int(rest)


def signal_of(name: str, default: signal.Signals) -> signal.Signals:
    if not name:
        return default
    name = name.upper()
    if name.isdigit():
        return signal.Signals(int(name))
    if not name.startswith("SIG"):
        name = "SIG" + name
    return signal.Signals[name]


def send(pid: int, sig: signal.Signals, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def stop(unit: str) -> int:
    if not need_root("stop", unit):
        return 1
    keys = parse_unit(unit) or {}
    rm(path(unit, "remain"))
    pid = main_pid(unit)
    if pid is None:
        if read_pid(unit) is not None:
            open(path(unit, "stopped"), "w").close()
        return 0
    open(path(unit, "stopped"), "w").close()
    group = last(keys, "KillMode", "control-group") != "process"
    sig = signal_of(last(keys, "KillSignal"), signal.SIGTERM)
    timeout_s = last(keys, "TimeoutStopSec", "10").rstrip("s")
    try:
        timeout = min(float(timeout_s), 90.0)
    except ValueError:
        timeout = 10.0
    send(pid, sig, group)
    deadline = time.monotonic() + timeout
    while main_pid(unit) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    if main_pid(unit) is not None:
        shim_log(unit, f"pid {pid} still running after {timeout:g}s, sending SIGKILL")
        send(pid, signal.SIGKILL, True)
        while main_pid(unit) is not None:
            time.sleep(0.02)
    shim_log(unit, f"stopped pid {pid}")
    return 0


def reload(unit: str) -> int:
    import subprocess

    if not need_root("reload", unit):
        return 1
    keys = parse_unit(unit)
    if keys is None:
        err(f"Failed to reload {unit}: Unit {unit} not found.")
        return 5
    pid = main_pid(unit)
    if pid is None:
        err(f"Failed to reload {unit}: Unit {unit} is not active.")
        return 1
    cmds = keys.get("ExecReload", [])
    if not cmds:
        err(f"Failed to reload {unit}: Job type reload is not applicable for unit {unit}.")
        return 1
    env = service_env(keys)
    env["MAINPID"] = str(pid)
    for c in cmds:
        rc = subprocess.call(command_line(c, env), env=env)
        if rc != 0:
            return 1
    shim_log(unit, "reloaded")
    return 0


def enable(unit: str, now: bool) -> int:
    if not need_root("enable", unit):
        return 1
    if not os.path.exists(unit_file(unit)):
        err(f"Failed to enable unit: Unit file {unit} does not exist.")
        return 1
    os.makedirs(STATE, exist_ok=True)
    if not is_enabled(unit):
        open(path(unit, "enabled"), "w").close()
        err(
            "Created symlink /etc/systemd/system/multi-user.target.wants/"
            f"{unit} \u2192 /etc/systemd/system/{unit}."
        )
    return start(unit) if now else 0


def disable(unit: str, now: bool) -> int:
    if not need_root("disable", unit):
        return 1
    if is_enabled(unit):
        rm(path(unit, "enabled"))
        err(f"Removed /etc/systemd/system/multi-user.target.wants/{unit}.")
    return stop(unit) if now else 0


def status(unit: str) -> int:
    keys = parse_unit(unit)
    if keys is None:
        err(f"Unit {unit} could not be found.")
        return 4
    state = active_state(unit)
    pid = main_pid(unit)
    desc = last(keys, "Description", unit)
    enabled = "enabled" if is_enabled(unit) else "disabled"
    sub = {"active": "running", "inactive": "dead", "failed": "failed"}[state]
    dot = {"active": "\u25cf", "inactive": "\u25cb", "failed": "\u00d7"}[state]
    out(f"{dot} {unit} - {desc}")
    out(f"     Loaded: loaded ({unit_file(unit)}; {enabled}; preset: enabled)")
    extra = ""
    if state == "failed":
        extra = f" (Result: exit-code, status={exit_code(unit)})"
    out(f"     Active: {state} ({sub}){extra}")
    if pid is not None:
        out(f"   Main PID: {pid}")
    out("")
    for line in tail(unit, 10):
        out(line)
    return 0 if state == "active" else 3


def tail(unit: str, n: int | None) -> list[str]:
    try:
        with open(path(unit, "log"), errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    return lines if n is None else lines[-n:]


PROPS = ("ActiveState", "SubState", "MainPID", "UnitFileState", "LoadState", "ExecMainStatus")


def show(units: list[str], props: list[str], value_only: bool) -> int:
    for unit in units:
        keys = parse_unit(unit)
        state = active_state(unit)
        values = {
            "ActiveState": state,
            "SubState": {"active": "running", "inactive": "dead", "failed": "failed"}[state],
            "MainPID": str(main_pid(unit) or 0),
            "UnitFileState": "enabled" if is_enabled(unit) else "disabled",
            "LoadState": "loaded" if keys is not None else "not-found",
            "ExecMainStatus": str(exit_code(unit) or 0),
            "Id": unit,
        }
        for p in props or PROPS:
            v = values.get(p, "")
            out(v if value_only else f"{p}={v}")
    return 0


def systemctl(args: list[str]) -> int:
    global QUIET
    now = False
    value_only = False
    props: list[str] = []
    kill_sig = "SIGTERM"
    words: list[str] = []
    it = iter(args)
    for a in it:
        if a == "--now":
            now = True
        elif a in ("-q", "--quiet"):
            QUIET = True
        elif a == "--value":
            value_only = True
        elif a in ("-p", "--property"):
            props.extend(next(it, "").split(","))
        elif a.startswith("--property="):
            props.extend(a.split("=", 1)[1].split(","))
        elif a in ("-s", "--signal"):
            kill_sig = next(it, "SIGTERM")
        elif a.startswith("--signal="):
            kill_sig = a.split("=", 1)[1]
        elif a == "--version":
            print("systemd 252 (testbed-shim: a stand-in, not systemd)")
            return 0
        elif a.startswith("-"):
            continue  # --no-pager, --system, --no-block, -l, --full, ...
        else:
            words.append(a)
    if not words:
        err("testbed-shim: no command given")
        return 1
    cmd, units = words[0], [full_name(u) for u in words[1:]]
    if cmd == "daemon-reload":
        return 0
    if cmd in ("reset-failed",):
        for u in units:
            if active_state(u) == "failed":
                rm(path(u, "exit"), path(u, "pid"))
        return 0
    if not units:
        err(f"testbed-shim: '{cmd}' needs a unit name")
        return 1
    rc = 0
    if cmd == "is-active":
        for u in units:
            s = active_state(u)
            out(s)
            if s != "active":
                rc = 3
        return rc
    if cmd == "is-failed":
        states = [active_state(u) for u in units]
        for s in states:
            out(s)
        return 0 if "failed" in states else 1
    if cmd == "is-enabled":
        for u in units:
            if not os.path.exists(unit_file(u)):
                err(f"Failed to get unit file state for {u}: No such file or directory")
                rc = 1
                continue
            e = is_enabled(u)
            out("enabled" if e else "disabled")
            if not e:
                rc = 1
        return rc
    if cmd == "show":
        return show(units, props, value_only)
    if cmd == "cat":
        for u in units:
            try:
                with open(unit_file(u)) as f:
                    print(f"# {unit_file(u)}\n{f.read()}")
            except OSError:
                err(f"No files found for {u}.")
                rc = 1
        return rc
    for u in units:
        if cmd == "start":
            r = start(u)
        elif cmd == "stop":
            r = stop(u)
        elif cmd == "restart":
            r = stop(u) or start(u)
        elif cmd in ("try-restart", "condrestart"):
            r = (stop(u) or start(u)) if main_pid(u) is not None else 0
        elif cmd == "reload":
            r = reload(u)
        elif cmd == "reload-or-restart":
            keys = parse_unit(u) or {}
            if main_pid(u) is not None and keys.get("ExecReload"):
                r = reload(u)
            else:
                r = stop(u) or start(u)
        elif cmd == "enable":
            r = enable(u, now)
        elif cmd == "disable":
            r = disable(u, now)
        elif cmd == "status":
            r = status(u)
        elif cmd == "kill":
            pid = main_pid(u)
            r = 0
            if not need_root("kill", u):
                r = 1
            elif pid is not None:
                send(pid, signal_of(kill_sig, signal.SIGTERM), True)
        else:
            err(f"testbed-shim: unknown command {cmd!r}")
            return 1
        rc = rc or r
    return rc


def journalctl(args: list[str]) -> int:
    units: list[str] = []
    n: int | None = None
    it = iter(args)
    for a in it:
        if a in ("-u", "--unit"):
            units.append(full_name(next(it, "")))
        elif a.startswith("--unit="):
            units.append(full_name(a.split("=", 1)[1]))
        elif a in ("-n", "--lines"):
            n = int(next(it, "10"))
        elif a.startswith("--lines="):
            n = int(a.split("=", 1)[1])
        elif a.startswith("-n") and a[2:].isdigit():
            n = int(a[2:])
    if not units:
        err("testbed-shim journalctl: only -u UNIT is supported")
        return 1
    for u in units:
        for line in tail(u, n):
            print(line)
    return 0


def main() -> int:
    name = os.path.basename(sys.argv[0])
    try:
        if name == "journalctl":
            return journalctl(sys.argv[1:])
        return systemctl(sys.argv[1:])
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
