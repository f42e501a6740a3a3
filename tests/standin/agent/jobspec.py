"""Job HCL to Nomad's JSON job shape (for /v1/jobs/parse), as far as a stand-in needs."""

from __future__ import annotations

import re
from typing import Any

from .common import ApiError
from .config import is_block, normalize, parse_hcl
from .jobcheck import job_errors

# ------------------------------------------------------------------------- job parsing

_LIST_BLOCKS = {
    "group": "TaskGroups",
    "task": "Tasks",
    "constraint": "Constraints",
    "affinity": "Affinities",
    "spread": "Spreads",
    "service": "Services",
    "check": "Checks",
    "template": "Templates",
    "artifact": "Artifacts",
    "volume_mount": "VolumeMounts",
}
_RAW_BLOCKS = {"config", "env", "meta", "options"}
_SPECIAL = {
    "id": "ID",
    "node_pool": "NodePool",
    "restart": "RestartPolicy",
    "reschedule": "ReschedulePolicy",
    "ephemeral_disk": "EphemeralDisk",
    "meta": "Meta",
    "env": "Env",
    "config": "Config",
}
_CTX_NAMES = {
    "constraint": {"attribute": "LTarget", "value": "RTarget", "operator": "Operand"},
    "affinity": {"attribute": "LTarget", "value": "RTarget", "operator": "Operand"},
    "service": {"port": "PortLabel"},
    "check": {"port": "PortLabel"},
    "resources": {"cpu": "CPU", "memory": "MemoryMB", "memory_max": "MemoryMaxMB"},
    "ephemeral_disk": {"size": "SizeMB"},
}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$")
_UNITS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


def _camel(key: str) -> str:
    acronyms = {
        "id": "ID",
        "cpu": "CPU",
        "ttl": "TTL",
        "dns": "DNS",
        "url": "URL",
        "mb": "MB",
        "tls": "TLS",
        "ip": "IP",
        "http": "HTTP",
        "grpc": "GRPC",
    }
    return "".join(acronyms.get(p, p.capitalize()) for p in key.split("_"))


def _blocks(value: list[dict[str, Any]]) -> list[tuple[str | None, dict[str, Any]]]:
    out: list[tuple[str | None, dict[str, Any]]] = []
    for item in value:
        if item.get("__is_block__"):
            out.append((None, item))
        else:
            out.extend(item.items())
    return out


def _convert(body: dict[str, Any], ctx: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    names = _CTX_NAMES.get(ctx, {})
    for key, value in body.items():
        if key == "__is_block__":
            continue
        block = isinstance(value, list) and value and all(is_block(v) for v in value)
        if block and key in _RAW_BLOCKS:
            out[_SPECIAL.get(key, _camel(key))] = normalize(value)
        elif block and key == "network":
            out["Networks"] = [_network(b) for _, b in _blocks(value)]
        elif block and key in _LIST_BLOCKS:
            out[_LIST_BLOCKS[key]] = [
                {**({"Name": label} if label else {}), **_convert(b, key)}
                for label, b in _blocks(value)
            ]
        elif block:
            out[_SPECIAL.get(key, _camel(key))] = _convert(_blocks(value)[-1][1], key)
        else:
            name = names.get(key) or _SPECIAL.get(key) or _camel(key)
            if isinstance(value, str) and _DURATION.match(value) and ctx != "config":
                num, unit = _DURATION.match(value).groups()  # type: ignore[union-attr]
                value = int(float(num) * _UNITS[unit])
            out[name] = value
    return out


def _network(body: dict[str, Any]) -> dict[str, Any]:
    net: dict[str, Any] = {
        "Mode": body.get("mode", "host"),
        "ReservedPorts": None,
        "DynamicPorts": None,
    }
    for label, port in _blocks(body.get("port") or []):
        entry = {
            "Label": label,
            "Value": int(port.get("static", 0)),
            "To": int(port.get("to", 0)),
            "HostNetwork": port.get("host_network", "default"),
        }
        kind = "ReservedPorts" if entry["Value"] else "DynamicPorts"
        net[kind] = [*(net[kind] or []), entry]
    return net


def hcl_job_to_api(text: str, canonicalize: bool, region: str) -> dict[str, Any]:
    parsed = parse_hcl(text)
    errors = job_errors(parsed)  # jobspec2's refusals (jobcheck.py)
    if errors:
        raise ApiError(400, "error parsing job: " + "; ".join(errors))
    jobs = _blocks(parsed.get("job") or [])
    if len(jobs) != 1:
        raise ApiError(400, "error parsing job: exactly one job block is required")
    label, body = jobs[0]
    job = {"ID": label, "Name": label, **_convert(body, "job")}
    if canonicalize:
        for k, v in (
            ("Namespace", "default"),
            ("Region", region),
            ("Type", "service"),
            ("Priority", 50),
            ("Datacenters", ["*"]),
            ("NodePool", "default"),
            ("AllAtOnce", False),
            ("Stop", False),
        ):
            job.setdefault(k, v)
        for g in job.setdefault("TaskGroups", []):
            g.setdefault("Count", 1)
            for t in g.setdefault("Tasks", []):
                t.setdefault("Resources", {})
                t["Resources"].setdefault("CPU", 100)
                t["Resources"].setdefault("MemoryMB", 300)
    return job
