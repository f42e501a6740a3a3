"""HCL for agent configuration files and ACL policies, as Nomad reads them.

Nomad parses its agent configuration (command/agent/config_parse.go) and ACL policy rules
(acl/policy.go) with HCL version 1, and only job specifications with HCL2. This module is
the stand-in's HCL1 reader for the first two; job specifications still go through
python-hcl2 (jobspec.py). It is also cheap: python-hcl2 costs about 0.25 CPU-s per process
(importing lark, loading its parse tables, compiling ~90 regular expressions), paid by
every agent start; on a 24-host testbed sharing two cores that was a third of the CPU
(docs/benchmarks.md).

Accepted: `#`, `//` and `/* */` comments; `key = value` (key an identifier or a quoted
string); blocks `key "label" ... { ... }`, also `key = { ... }` for objects; strings with
JSON-like escapes (`${...}` kept as text), heredocs `<<EOF` and `<<-EOF`; integers, floats,
`true`/`false`; lists `[a, b,]`; objects `{ k = v, ... }`. Anything else is an error naming
line and column, as Nomad's "At 3:7: ..." errors do.

Output has python-hcl2's shape (with `explicit_blocks=True`): every block is a list entry,
labels nest as single-key dicts, the innermost body carries `"__is_block__": True`, so
config.normalize() handles both parsers' output alike (tests/test_standin_hcl.py compares
them on every configuration nomadctl and the tests write).
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r]+)
  | (?P<nl>\n)
  | (?P<comment>\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<heredoc><<-?(?P<tag>[A-Za-z_][A-Za-z0-9_]*)[ \t]*\n)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.\-]*)
  | (?P<punct>[{}\[\]=,])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {
    "n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
    '"': '"', "\\": "\\",
}  # fmt: skip


class HclError(ValueError):
    pass


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, Any, int]] = []  # kind, value, offset
        self._lex()
        self.i = 0

    # -- lexing
    def where(self, offset: int) -> str:
        line = self.text.count("\n", 0, offset) + 1
        col = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return f"At {line}:{col}"

    def _lex(self) -> None:
        text, pos, n = self.text, 0, len(self.text)
        while pos < n:
            if text[pos] == '"':
                end = self._scan_string(pos)
                self.tokens.append(("string", self._unquote(text[pos:end], pos), pos))
                pos = end
                continue
            m = _TOKEN.match(text, pos)
            if m is None:
                if text.startswith("/*", pos):
                    raise HclError(f"{self.where(pos)}: comment not terminated")
                if text[pos] == '"':
                    raise HclError(f"{self.where(pos)}: literal not terminated")
                raise HclError(f"{self.where(pos)}: illegal char {text[pos]!r}")
            kind = m.lastgroup if m.lastgroup != "tag" else "heredoc"
            if m.group("heredoc"):
                kind = "heredoc"
            if kind in ("ws", "nl", "comment"):
                pos = m.end()
                continue
            if kind == "heredoc":
                value, end = self._heredoc(m)
                self.tokens.append(("string", value, pos))
                pos = end
                continue
            raw = m.group(kind)
            if kind == "string":
                value: Any = self._unquote(raw, pos)
            elif kind == "number":
                value = float(raw) if any(c in raw for c in ".eE") else int(raw)
            elif kind == "ident" and raw in ("true", "false"):
                kind, value = "bool", raw == "true"
            else:
                value = raw
            self.tokens.append((kind, value, pos))
            pos = m.end()

    def _heredoc(self, m: re.Match[str]) -> tuple[str, int]:
        tag, indent = m.group("tag"), m.group("heredoc").startswith("<<-")
        pos = m.end()
        lines: list[str] = []
        while True:
            if pos >= len(self.text):
                raise HclError(f"{self.where(m.start())}: heredoc {tag} not terminated")
            end = self.text.find("\n", pos)
            end = len(self.text) if end < 0 else end
            line = self.text[pos:end]
            if line.strip() == tag and (indent or line == tag):
                break
            lines.append(line)
            pos = end + 1
        if indent:
            widths = [len(x) - len(x.lstrip(" \t")) for x in lines if x.strip()]
            cut = min(widths, default=0)
            lines = [x[cut:] for x in lines]
        return "\n".join(lines), end

    def _scan_string(self, pos: int) -> int:
        """End offset of the string literal at `pos`, as HCL1's scanner finds it
        (hcl/scanner/scanner.go scanString): inside `${ ... }` quotes and newlines do not end
        the literal, so a stray `${` swallows what follows up to a `}` and a quote."""
        text, i, braces = self.text, pos + 1, 0
        while True:
            if i >= len(text) or (text[i] == "\n" and braces == 0):
                raise HclError(f"{self.where(pos)}: literal not terminated")
            ch = text[i]
            if ch == '"' and braces == 0:
                return i + 1
            if braces == 0 and ch == "$" and text[i + 1 : i + 2] == "{":
                braces += 1
                i += 1
            elif braces > 0 and ch == "{":
                braces += 1
            if braces > 0 and ch == "}":
                braces -= 1
            if ch == "\\":
                i += 1
            i += 1

    def _unquote(self, raw: str, pos: int) -> str:
        """hcl/strconv Unquote: escapes decoded, `${ ... }` copied as it is (escapes too)."""
        out, i, body = [], 0, raw[1:-1]
        while i < len(body):
            c = body[i]
            if body.startswith("${", i):
                depth, j = 1, i + 2
                while j < len(body) and depth:
                    depth += {"{": 1, "}": -1}.get(body[j], 0)
                    j += 1
                if depth:
                    raise HclError(f"{self.where(pos)}: invalid syntax (unbalanced ${{ in string)")
                out.append(body[i:j])
                i = j
                continue
            if c == "\n":
                raise HclError(f"{self.where(pos)}: invalid syntax (newline in string)")
            if c != "\\":
                out.append(c)
                i += 1
                continue
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
            else:
                raise HclError(f"{self.where(pos + i + 1)}: unknown escape sequence \\{nxt}")
        return "".join(out)

    # -- parsing
    def peek(self) -> tuple[str, Any, int]:
        if self.i < len(self.tokens):
            return self.tokens[self.i]
        return ("eof", None, len(self.text))

    def take(self) -> tuple[str, Any, int]:
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        kind, got, pos = self.take()
        if kind != "punct" or got != value:
            raise HclError(f"{self.where(pos)}: expected {value!r}, got {_show(kind, got)}")

    def body(self, closing: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while True:
            kind, value, pos = self.peek()
            if kind == "eof":
                if closing is None:
                    return out
                raise HclError(f"{self.where(pos)}: expected '}}', got end of file")
            if kind == "punct" and value == closing:
                self.take()
                return out
            if kind not in ("ident", "string"):
                raise HclError(f"{self.where(pos)}: expected a key, got {_show(kind, value)}")
            self.take()
            key = value
            labels: list[str] = []
            while self.peek()[0] == "string":
                labels.append(self.take()[1])
            nkind, nvalue, npos = self.peek()
            if nkind == "punct" and nvalue == "=" and not labels:
                self.take()
                value = self.value()
                prev = out.get(key)
                if isinstance(prev, list) and any(_is_block(e) for e in prev):
                    raise HclError(f"{self.where(pos)}: {key!r} is both an attribute and a block")
                # HCL1 has no duplicate check: the decoder decodes every match in turn, so
                # a scalar's last value wins, lists are appended and objects merged (hcl
                # decoder.go decodeStruct / decodeSlice / decodeMap).
                if isinstance(prev, list) and isinstance(value, list):
                    value = prev + value
                elif isinstance(prev, dict) and isinstance(value, dict):
                    value = {**prev, **value}  # decodeMap starts from the existing entries
                out[key] = value
            elif nkind == "punct" and nvalue == "{":
                self.take()
                block: dict[str, Any] = self.body("}")
                block["__is_block__"] = True
                for label in reversed(labels):
                    block = {label: block}
                existing = out.setdefault(key, [])
                if not isinstance(existing, list) or any(not isinstance(e, dict) for e in existing):
                    raise HclError(f"{self.where(pos)}: {key!r} is both an attribute and a block")
                existing.append(block)
            else:
                raise HclError(
                    f"{self.where(npos)}: key {key!r} expected start of object ('{{') or "
                    f"assignment ('='), got {_show(nkind, nvalue)}"
                )
            if self.peek()[:2] == ("punct", ","):  # HCL1 allows commas between object items
                self.take()

    def value(self) -> Any:
        kind, value, pos = self.take()
        if kind in ("string", "number", "bool"):
            return value
        if kind == "punct" and value == "[":
            items: list[Any] = []
            while True:
                if self.peek()[:2] == ("punct", "]"):
                    self.take()
                    return items
                items.append(self.value())
                k, v, p = self.peek()
                if (k, v) == ("punct", ","):
                    self.take()
                elif (k, v) != ("punct", "]"):
                    raise HclError(f"{self.where(p)}: expected ',' or ']', got {_show(k, v)}")
        if kind == "punct" and value == "{":
            obj = self.body("}")
            return {k: v for k, v in obj.items()}
        raise HclError(f"{self.where(pos)}: unexpected {_show(kind, value)} as a value")


def _is_block(value: Any) -> bool:
    """A block as this parser writes it: a body marked __is_block__, under its labels."""
    if not isinstance(value, dict):
        return False
    if value.get("__is_block__"):
        return True
    return len(value) == 1 and _is_block(next(iter(value.values())))


def _show(kind: str, value: Any) -> str:
    if kind == "eof":
        return "end of file"
    if kind == "string":
        return f"string {value!r}"
    return repr(value) if kind != "punct" else f"'{value}'"


def loads(text: str) -> dict[str, Any]:
    """Parse HCL text into python-hcl2's explicit-block shape; HclError on bad input."""
    return _Parser(text).body(None)
