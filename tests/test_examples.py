"""examples/jobs: every file is a job Nomad accepts (jobspec2's keys and types, the drivers'
task configs: tests/standin/agent/jobcheck.py), and the Traefik job's token reaches Traefik.

Traefik's static configuration comes from exactly one source (traefik/traefik cmd/traefik:
loaders FileLoader, FlagLoader, EnvLoader, the first that finds anything wins): a
configuration file (named by --configFile or found in /etc/traefik, $XDG_CONFIG_HOME,
$HOME/.config, the working directory), else the command line, else TRAEFIK_* variables.
The test renders the job's templates as Nomad would (nomadVar, env) and loads the result as
Traefik would.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.standin.agent.config import normalize, parse_hcl
from tests.standin.agent.jobcheck import job_errors

JOBS = sorted((Path(__file__).parent.parent / "examples" / "jobs").glob("*.hcl"))
TOKEN = "2c1c5c0e-9c4e-4bd4-9e8a-d3c0b6a1f00d"
VAR = {"token": TOKEN, "ca": "CA PEM", "cert": "CERT PEM", "key": "KEY PEM"}
NODE = {"attr.unique.network.ip-address": "198.18.1.7"}


@pytest.mark.parametrize("path", JOBS, ids=[p.name for p in JOBS])
@pytest.mark.parametrize("version", ["1.8.4", "1.11.1"])
def test_every_example_is_a_valid_job(path: Path, version: str) -> None:
    assert job_errors(parse_hcl(path.read_text()), version) == []


def test_the_job_checker_refuses_what_nomad_refuses() -> None:
    text = JOBS[0].read_text()
    assert job_errors(parse_hcl(text.replace("weight    = 80", "weight = 80\n      wieght = 1")))
    bad_driver = text.replace('image = "redis:7-alpine"', 'image = "redis"\n        port = 1')
    errors = job_errors(parse_hcl(bad_driver))
    assert any('An argument named "port" is not expected here' in e for e in errors), errors


def hcl_string(value: str) -> str:
    """python-hcl2 hands heredocs back with their quotes still escaped (\\"): undo that."""
    return re.sub(r'\\(["\\])', r"\1", value)


def render_template(data: str, variables: dict[str, dict[str, str]], env: dict[str, str]) -> str:
    """The subset of consul-template that the examples use: {{ with nomadVar "p" }} ...
    {{ .key }} ... {{ end }} and {{ env "name" }}."""

    def with_var(m: re.Match[str]) -> str:
        items = variables.get(m.group(1))
        if items is None:
            return ""
        return re.sub(r"\{\{\s*\.(\w+)\s*\}\}", lambda k: items[k.group(1)], m.group(2))

    out = re.sub(
        r'\{\{\s*with nomadVar "([^"]+)"\s*\}\}(.*?)\{\{\s*end\s*\}\}', with_var, data, flags=re.S
    )
    out = re.sub(r'\{\{\s*env "([^"]+)"\s*\}\}', lambda m: env.get(m.group(1), ""), out)
    assert "{{" not in out, f"template construct not modelled: {out}"
    return out


def traefik_static_config(
    args: list[str], env: dict[str, str], files: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    """(source, configuration) as Traefik's loaders pick them."""
    named = [a.split("=", 1)[1] for a in args if a.lower().startswith("--configfile=")]
    defaults = ["/etc/traefik/traefik.toml", "./traefik.toml"]
    for path in named or defaults:
        if path in files:
            return "file", tomllib.loads(files[path])
    if args:
        conf: dict[str, Any] = {}
        for arg in args:
            key, _, value = arg.lstrip("-").partition("=")
            node = conf
            *parents, leaf = key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value or "true"
        return "flags", conf
    conf = {}
    for name, value in env.items():
        if name.startswith("TRAEFIK_"):
            conf[name] = value
    return "env", conf


def traefik_task() -> dict[str, Any]:
    job = normalize(parse_hcl((JOBS[0].parent / "traefik.nomad.hcl").read_text()))
    return job["job"]["traefik"]["group"]["traefik"]["task"]["traefik"]


def test_traefik_token_reaches_traefik() -> None:
    task = traefik_task()
    templates = parse_hcl((JOBS[0].parent / "traefik.nomad.hcl").read_text())
    group = templates["job"][0]["traefik"]["group"][0]["traefik"]
    blocks = [t for t in group["task"][0]["traefik"]["template"]]
    files, env = {}, {}
    for t in blocks:
        rendered = render_template(hcl_string(t["data"]), {"nomad/jobs/traefik": VAR}, NODE)
        if t.get("env"):
            env.update(dict(line.split("=", 1) for line in rendered.split() if "=" in line))
        files["/" + t["destination"]] = rendered  # the docker driver mounts secrets/ at /secrets
    source, conf = traefik_static_config(task["config"]["args"], env, files)
    assert source == "file"
    nomad = conf["providers"]["nomad"]
    assert nomad["endpoint"]["token"] == TOKEN
    assert nomad["endpoint"]["address"] == "https://198.18.1.7:4646"
    assert nomad["exposedByDefault"] is False
    for part in ("ca", "cert", "key"):
        assert files[nomad["endpoint"]["tls"][part]] == VAR[part]
    assert conf["entryPoints"]["web"]["address"] == ":80"
    assert conf["ping"]["entryPoint"] == "traefik"
    assert not [k for k in env if k.startswith("TRAEFIK_")], "would be ignored: one source"
    secret_files = {t["destination"]: t.get("perms") for t in blocks}
    assert secret_files["secrets/traefik.toml"] == "600"  # holds the token
    assert secret_files["secrets/key.pem"] == "600"
