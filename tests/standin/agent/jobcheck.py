"""Job specifications checked as Nomad reads them (HCL2, jobspec2).

Sources: jobspec2/parse.go decodes the file with gohcl into api.Job, so every block body
accepts exactly the `hcl:"..."` tagged fields of the api struct (api/jobs.go, api/tasks.go,
api/services.go, api/resources.go ...; generated into nomad_keys.py "jobspec" with the commit):
an unknown attribute is HCL's "Unsupported argument", an unknown block "Unsupported block
type", a missing required attribute "Missing required argument", a block with the wrong
number of labels "Missing name for ..." / "Extraneous label ...". A task's `config` is the
driver's: the client decodes it with the driver's task config spec (drivers/docker/config.go
taskConfigSpec, drivers/exec/driver.go, drivers/rawexec/driver.go) and fails the task on
errors; the stand-in checks it when the job is parsed.

Input is python-hcl2's output with explicit blocks (labels nest as single-key dicts, bodies
carry "__is_block__"). Types are checked loosely (lists vs scalars vs objects).
"""

from __future__ import annotations

from typing import Any

from .common import VERSION
from .config import normalize
from .strict import check_spec, keys_for


def _is_block_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _unlabel(item: dict[str, Any], n: int) -> tuple[list[str], dict[str, Any]]:
    labels: list[str] = []
    while (
        not item.get("__is_block__")
        and len(item) == 1
        and isinstance(next(iter(item.values())), dict)
    ):
        label, item = next(iter(item.items()))
        labels.append(label)
    return labels, item


def _attr_ok(value: Any, gotype: str) -> bool:
    if gotype.startswith("[]"):
        return isinstance(value, list)
    if gotype.startswith("map["):
        return isinstance(value, dict)
    return not isinstance(value, list | dict)


class JobChecker:
    def __init__(self, version: str = VERSION) -> None:
        data = keys_for(version)
        self.structs, self.drivers = data["jobspec"], data["drivers"]
        self.errors: list[str] = []

    def body(self, body: dict[str, Any], struct: str, where: str) -> None:
        spec = self.structs[struct]
        for key, value in body.items():
            if key == "__is_block__":
                continue
            if key in spec["attrs"]:
                if _is_block_list(value) and all(v.get("__is_block__") for v in value):
                    self.errors.append(
                        f'{where}: Unsupported block type; Blocks of type "{key}" are not '
                        f'expected here. Did you mean to define argument "{key}"?'
                    )
                elif not _attr_ok(value, spec["attrs"][key]):
                    self.errors.append(
                        f"{where}: Incorrect attribute value type; Inappropriate value for "
                        f'attribute "{key}": {spec["attrs"][key]} required.'
                    )
            elif key in spec["blocks"]:
                self.block(key, value, spec["blocks"][key], where, body)
            elif _is_block_list(value):
                self.errors.append(
                    f'{where}: Unsupported block type; Blocks of type "{key}" are not '
                    "expected here."
                )
            else:
                self.errors.append(
                    f'{where}: Unsupported argument; An argument named "{key}" is not '
                    "expected here."
                )
        for key in spec["required"]:
            if key not in body:
                self.errors.append(
                    f'{where}: Missing required argument; The argument "{key}" is required, '
                    "but no definition was found."
                )

    def block(
        self, key: str, value: Any, info: dict[str, Any], where: str, parent: dict[str, Any]
    ) -> None:
        if not _is_block_list(value):
            self.errors.append(
                f'{where}: Unsupported argument; An argument named "{key}" is not expected '
                f'here. Did you mean to define a block of type "{key}"?'
            )
            return
        if info["kind"] == "single" and len(value) > 1:
            self.errors.append(
                f'{where}: Duplicate {key} block; Only one "{key}" block is allowed.'
            )
        for item in value:
            want = self.structs[info["struct"]]["labels"] if "struct" in info else 0
            labels, body = _unlabel(item, want)
            name = f"{where}.{key}" + "".join(f'["{lab}"]' for lab in labels)
            if len(labels) < want:
                self.errors.append(
                    f'{name}: Missing name for {key}; All "{key}" blocks must have {want} label(s).'
                )
            elif len(labels) > want:
                self.errors.append(
                    f"{name}: Extraneous label for {key}; only {want} label(s) are expected "
                    f'for "{key}" blocks.'
                )
            if info["kind"] == "config":
                self.config(normalize([body]), parent.get("driver"), name)
            elif "struct" in info:
                self.body(body, info["struct"], name)

    def config(self, config: dict[str, Any], driver: Any, where: str) -> None:
        if isinstance(driver, str) and driver in self.drivers:
            self.errors += check_spec(config, self.drivers[driver]["task_config"], where)


def job_errors(parsed: dict[str, Any], version: str = VERSION) -> list[str]:
    """Every error Nomad would report for a parsed job file (empty: it is valid)."""
    checker = JobChecker(version)
    jobs = parsed.get("job")
    if not _is_block_list(jobs) or len(jobs) != 1:
        return ['Exactly one "job" block is required']
    for key, value in parsed.items():
        if key not in ("job", "variable", "variables", "locals"):
            kind = "block type" if _is_block_list(value) else "argument"
            checker.errors.append(f'Unsupported {kind}; "{key}" is not expected here.')
    labels, body = _unlabel(jobs[0], 1)
    if len(labels) != 1:
        checker.errors.append('Missing name for job; All "job" blocks must have 1 label(s).')
    checker.body(body, "Job", f'job["{labels[0] if labels else ""}"]')
    return checker.errors
