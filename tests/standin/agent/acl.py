"""ACL policies: rules HCL to capabilities, the way Nomad grants them."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from typing import Any

from . import hcl1
from .common import str_list
from .config import normalize

# ---------------------------------------------------------------------------------- ACLs

NS_READ = {
    "list-jobs",
    "parse-job",
    "read-job",
    "csi-list-volume",
    "csi-read-volume",
    "read-job-scaling",
    "list-scaling-policies",
    "read-scaling-policy",
    "host-volume-read",
}
NS_WRITE = NS_READ | {
    "submit-job",
    "dispatch-job",
    "read-logs",
    "read-fs",
    "alloc-exec",
    "alloc-lifecycle",
    "csi-mount-volume",
    "csi-write-volume",
    "scale-job",
    "submit-recommendation",
    "host-volume-register",
}
NS_SCALE = {"list-scaling-policies", "read-scaling-policy", "read-job-scaling", "scale-job"}
LEVEL = {"": 0, "read": 1, "write": 2}


@dataclass
class Acl:
    management: bool = False
    namespaces: dict[str, set[str]] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)  # agent/node/operator/... -> level

    def allows(self, scope: str, level: str) -> bool:
        if self.management:
            return True
        have = self.levels.get(scope, "")
        return have != "deny" and LEVEL.get(have, 0) >= LEVEL[level]

    def allows_ns(self, ns: str, cap: str) -> bool:
        if self.management:
            return True
        caps = self.namespaces.get(ns)
        if caps is None:
            matches = [p for p in self.namespaces if fnmatch.fnmatchcase(ns, p)]
            if not matches:
                return False
            caps = self.namespaces[max(matches, key=lambda p: len(p.replace("*", "")))]
        return "deny" not in caps and cap in caps


def parse_rules(text: str) -> dict[str, Any]:
    text = text.strip()
    if text.startswith("{"):
        return normalize(json.loads(text), merge_any_dict_list=True)
    return normalize(hcl1.loads(text))


def acl_from_rules(rules: list[str]) -> Acl:
    acl = Acl()
    for text in rules:
        parsed = parse_rules(text)
        for ns, spec in (parsed.get("namespace") or {}).items():
            caps = acl.namespaces.setdefault(ns, set())
            policy = str(spec.get("policy") or "")
            caps |= {"deny"} if policy == "deny" else set()
            caps |= {"read": NS_READ, "write": NS_WRITE, "scale": NS_SCALE}.get(policy, set())
            caps |= set(str_list(spec.get("capabilities")))
        for scope in ("agent", "node", "operator", "quota", "plugin"):
            policy = str((parsed.get(scope) or {}).get("policy") or "")
            old = acl.levels.get(scope, "")
            if policy == "deny" or old == "deny":
                acl.levels[scope] = "deny"
            elif LEVEL.get(policy, 0) > LEVEL.get(old, 0):
                acl.levels[scope] = policy
    return acl


def acl_dump(acl: Acl) -> dict[str, Any]:
    return {
        "management": acl.management,
        "levels": acl.levels,
        "namespaces": {k: sorted(v) for k, v in acl.namespaces.items()},
    }


def acl_load(d: dict[str, Any]) -> Acl:
    return Acl(d["management"], {k: set(v) for k, v in d["namespaces"].items()}, d["levels"])
