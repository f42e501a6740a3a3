"""Regenerate tests/standin/agent/nomad_keys.py from Nomad's Go source.

    python -m tests.standin.gen_nomad_keys /work/.mirror/hashicorp+nomad/repo v1.8.4 v1.9.7 ...

(`fetch github:hashicorp/nomad` gives the bare git dir.) For every tag it reads the agent
config structs (command/agent/config.go, nomad/structs/config/*.go) the way Nomad's HCL1
decoder sees them: a field's key is its `hcl:"name"` tag, or its Go field name when it has
none (the decoder matches that name, and `helper.UnusedKeys` reports any other spelling);
`hcl:"-"` fields are not decoded. A struct with an `hcl:",unusedKeys"` field is strict: an
unknown key in it is fatal (`helper.UnusedKeys`, called from `config_parse.go`'s extraKeys),
but only for structs reached through struct or pointer-to-struct fields from `Config`
(UnusedKeys does not descend into slices or maps, e.g. `plugin` blocks).
"""

from __future__ import annotations

import pprint
import re
import subprocess
import sys

FILES = ("command/agent/config.go", "nomad/structs/config/*.go")
_STRUCT = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.M | re.S)
_FIELD = re.compile(r"^\t(\w+)[ \t]+([^\s`]+(?:\{\})?)[ \t]*(?:`([^`]*)`)?", re.M)


def git(repo: str, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", repo, *args], capture_output=True, text=True, check=True
    ).stdout


def structs_at(repo: str, tag: str) -> dict[str, list[tuple[str, str, str]]]:
    paths = git(repo, "ls-tree", "--name-only", tag, "nomad/structs/config/").split()
    paths = [p for p in paths if p.endswith(".go") and not p.endswith("_test.go")]
    out: dict[str, list[tuple[str, str, str]]] = {}
    for path in ["command/agent/config.go", *paths]:
        src = git(repo, "show", f"{tag}:{path}")
        for m in _STRUCT.finditer(src):
            out.setdefault(
                m.group(1), [(f, t, tags or "") for f, t, tags in _FIELD.findall(m.group(2))]
            )
    return out


def block(structs: dict, name: str, reached: bool) -> dict:
    keys, children, strict = [], {}, False
    for field, typ, tags in structs[name]:
        if not field[0].isupper():
            continue  # unexported: the decoder cannot set it
        hcl = re.search(r'hcl:"([^"]*)"', tags)
        tag = hcl.group(1).split(",") if hcl else [""]
        if len(tag) > 1 and tag[1] == "unusedKeys":
            strict = True
            continue
        if len(tag) > 1 and tag[1] == "key":
            continue
        key = tag[0] or field
        if key == "-":
            continue
        keys.append(key)
        base = typ.lstrip("*").split(".")[-1]
        if base in structs and not typ.startswith(("[", "map")):
            children[key] = block(structs, base, reached)
    return {"struct": name, "strict": strict and reached, "keys": sorted(keys), "blocks": children}


# ------------------------------------------------------------- driver config specs (hclspec)

_GO_TOKEN = re.compile(r'\s+|//[^\n]*|"(?:[^"\\]|\\.)*"|`[^`]*`|[\w.\[\]*]+|[(){},:]')


def _tokens(src: str) -> list[str]:
    return [t for t in _GO_TOKEN.findall(src) if t.strip() and not t.startswith("//")]


class _SpecParser:
    """Reads the `hclspec.NewObject(...)` expressions of a driver's Go file into data:
    {"attrs": {name: type}, "blocks": {name: {"kind": ..., "body": spec}}, "required": [...]}."""

    def __init__(self, src: str) -> None:
        self.src, self.toks, self.i = src, [], 0

    def spec(self, name: str) -> dict:
        m = re.search(rf"\b{name}\s*=\s*hclspec\.", self.src)
        self.toks = _tokens(self.src[m.end() - len("hclspec.") :])
        self.i = 0
        return self.expr()

    def next(self) -> str:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expr(self):
        t = self.next()
        if t.startswith(('"', "`")):
            return t[1:-1]
        if t in ("true", "false"):
            return t == "true"
        if self.toks[self.i] != "(" and not t.startswith("map["):
            return ("ref", t)
        if t.startswith("map["):
            assert self.next() == "{"
            out = {}
            while self.toks[self.i] != "}":
                key = self.expr()
                assert self.next() == ":"
                out[key] = self.expr()
                if self.toks[self.i] == ",":
                    self.i += 1
            self.i += 1
            return out
        assert self.next() == "("
        args = []
        while self.toks[self.i] != ")":
            args.append(self.expr())
            if self.toks[self.i] == ",":
                self.i += 1
        self.i += 1
        return (t.split(".")[-1], args)


def _spec_data(node, resolve) -> dict:
    """hclspec call tree -> {"attrs": {...}, "blocks": {...}, "required": [...]}."""
    kind, args = node
    if kind == "ref":
        return _spec_data(resolve(args), resolve)
    assert kind == "NewObject", kind
    out: dict = {"attrs": {}, "blocks": {}, "required": []}
    for key, sub in args[0].items():
        while sub[0] == "NewDefault":
            sub = sub[1][0]
        if sub[0] == "ref":
            sub = resolve(sub[1])
        k, a = sub
        if k == "NewAttr":
            out["attrs"][key] = a[1]
            if a[2]:
                out["required"].append(key)
        elif k == "NewBlockAttrs":
            out["attrs"][key] = f"map({a[1]})"
        elif k in ("NewBlock", "NewBlockList", "NewBlockSet", "NewBlockMap"):
            body = a[-1]
            out["blocks"][key] = {"kind": k[len("New") :], "body": _spec_data(body, resolve)}
        else:
            raise ValueError(f"unknown hclspec constructor {k} for {key}")
    return out


def driver_specs(repo: str, tag: str) -> dict:
    out = {}
    for driver, path in (
        ("docker", "drivers/docker/config.go"),
        ("raw_exec", "drivers/rawexec/driver.go"),
        ("exec", "drivers/exec/driver.go"),
    ):
        src = git(repo, "show", f"{tag}:{path}")

        def resolve(name: str, src: str = src) -> tuple:
            return _SpecParser(src).spec(name)

        out[driver] = {
            "source": path,
            "config": _spec_data(resolve("configSpec"), resolve),
            "task_config": _spec_data(resolve("taskConfigSpec"), resolve),
        }
    return out


# --------------------------------------------------------------- job specifications (api/)

_HCL_TAG = re.compile(r'hcl:"([^"]*)"')


def api_structs(repo: str, tag: str) -> dict[str, list[tuple[str, str, str]]]:
    paths = git(repo, "ls-tree", "--name-only", tag, "api/").split()
    out: dict[str, list[tuple[str, str, str]]] = {}
    for path in paths:
        if path.endswith(".go") and not path.endswith("_test.go"):
            for m in _STRUCT.finditer(git(repo, "show", f"{tag}:{path}")):
                fields = [(f, t, tg or "") for f, t, tg in _FIELD.findall(m.group(2))]
                out.setdefault(m.group(1), fields)
    return out


def job_structs(structs: dict, root: str = "Job") -> dict:
    """gohcl's view of the api structs reachable from `root` (jobspec2 decodes job files into
    api.Job with gohcl): {struct: {"attrs": {key: go type}, "required": [...], "labels": n,
    "blocks": {key: {"kind": single|list|map|config|unchecked, "struct": name}}}}. Attributes
    are `hcl:"x,optional"` (required without `optional`), blocks `hcl:"x,block"`."""
    out: dict = {}
    todo = [root]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        entry: dict = {"attrs": {}, "blocks": {}, "required": [], "labels": 0}
        out[name] = entry
        for _field, typ, tags in structs[name]:
            m = _HCL_TAG.search(tags)
            if not m:
                continue  # gohcl decodes tagged fields only
            key, _, kind = m.group(1).partition(",")
            if kind == "label":
                entry["labels"] += 1
            elif kind == "remain" or not key:
                continue
            elif kind != "block":
                entry["attrs"][key] = typ.lstrip("*")
                if kind != "optional":
                    entry["required"].append(key)
            else:
                base = typ.lstrip("*[]").split("]")[-1].lstrip("*").split(".")[-1]
                if typ.startswith("map[string]") and base in ("string", "interface{}"):
                    entry["blocks"][key] = {"kind": "map" if base == "string" else "config"}
                elif base in structs:
                    todo.append(base)
                    kind_of = "map" if typ.startswith("map[") else "list"
                    if not typ.startswith(("[]", "map[")):
                        kind_of = "single"
                    entry["blocks"][key] = {"kind": kind_of, "struct": base}
                else:
                    entry["blocks"][key] = {"kind": "unchecked"}
    return out


def main(repo: str, tags: list[str]) -> None:
    data = {}
    for tag in tags:
        structs = structs_at(repo, tag)
        top = block(structs, "Config", True)
        top["blocks"]["plugin"] = block(structs, "PluginConfig", False)
        data[tag.lstrip("v").rsplit(".", 1)[0]] = {
            "tag": tag,
            "commit": git(repo, "rev-parse", f"{tag}^{{commit}}").strip(),
            "config": top,
            "drivers": driver_specs(repo, tag),
            "jobspec": job_structs(api_structs(repo, tag)),
        }
    print("# ruff: noqa: E501")
    print('"""Agent configuration keys Nomad accepts, read from its source (generated: see')
    print('tests/standin/gen_nomad_keys.py; do not edit by hand)."""\n')
    print("# fmt: off")
    print("NOMAD_KEYS = " + pprint.pformat(data, width=100, sort_dicts=True))
    print("# fmt: on")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
