"""Stage 1: read a spec file (YAML or JSON) into plain data plus the source position of
every value and key, so any later stage can say ``file:line:col``.

Why not ``yaml.safe_load``? It forgets positions, lets a duplicate key silently override
the first, reads ``no``/``on`` as booleans (YAML 1.1) and expands aliases, which is how
"billion laughs" files exhaust memory. This loader composes the node graph (libyaml when
available), resolves scalars with the YAML 1.2 core schema, refuses aliases, non-standard
tags and duplicate keys, and reports every failure as a :class:`Diagnostic`.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from json.decoder import scanstring
from pathlib import Path
from typing import Any

import yaml
import yaml.resolver

from .diagnostics import Diagnostic, Position, Severity, SpecError

# A spec is a reviewed text file; anything this large is a mistake or an attack.
MAX_SPEC_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64
MAX_NUMBER_LENGTH = 100

JSONValue = Any


def pointer_join(base: str, token: str | int) -> str:
    """Append one reference token to a JSON pointer (RFC 6901 escaping)."""
    text = str(token).replace("~", "~0").replace("/", "~1")
    return f"{base}/{text}"


def pointer_tokens(pointer: str) -> list[str]:
    if not pointer:
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """Where a value sits in the file. ``key`` is the position of its mapping key, if any;
    ``style`` is the YAML scalar style ('' plain, "'", '"', '|', '>') or 'json'."""

    start: Position
    key: Position | None = None
    style: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """A loaded spec: plain JSON-compatible data and the position of each value by pointer."""

    path: Path
    display: str
    data: JSONValue
    nodes: dict[str, NodeInfo]
    lines: tuple[str, ...]
    # After an environment overlay: merged pointer → where the value is written in the
    # file (/environments/NAME/...), for values that came from the overlay.
    origins: dict[str, str] = field(default_factory=dict)

    def written_at(self, pointer: str) -> str:
        """The pointer under which the value at ``pointer`` is written in the file."""
        probe = pointer
        while probe:
            if probe in self.origins:
                return self.origins[probe] + pointer[len(probe):]
            probe = probe.rsplit("/", 1)[0]
        return pointer

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def position(self, pointer: str, *, key: bool = False) -> Position | None:
        """Position of the value at ``pointer`` (or of its key), falling back to the
        nearest enclosing value that has one."""
        probe = pointer
        while True:
            info = self.nodes.get(probe)
            if info is not None:
                if key and info.key is not None and probe == pointer:
                    return info.key
                return info.start
            if not probe:
                return None
            probe = probe.rsplit("/", 1)[0]

    def string_position(self, pointer: str, offset: int) -> Position | None:
        """Position of character ``offset`` inside the string value at ``pointer``.

        Exact for single-line plain and quoted scalars written without escapes and for
        literal blocks (``|``); otherwise the start of the scalar."""
        info = self.nodes.get(pointer)
        if info is None:
            return self.position(pointer)
        value = _lookup(self.data, pointer)
        if not isinstance(value, str):
            return info.start
        start = info.start
        if info.style == "|":
            head = value[:offset]
            line_index = head.count("\n")
            col_in_line = len(head) - (head.rfind("\n") + 1)
            file_line = start.line + 1 + line_index
            indent = _block_indent(self.lines, start.line)
            return Position(file_line, indent + col_in_line + 1)
        quote = 1 if info.style in ("'", '"', "json") else 0
        if "\n" not in value and 0 < start.line <= len(self.lines):
            source = self.lines[start.line - 1]
            begin = start.col - 1 + quote
            if source[begin : begin + len(value)] == value:
                return Position(start.line, start.col + quote + offset)
        return start


def index_position(text: str | bytes, index: int) -> Position:
    """The 1-based line and column of character (or byte) ``index`` in ``text``."""
    newline = b"\n" if isinstance(text, bytes) else "\n"
    line = text.count(newline, 0, index) + 1  # type: ignore[arg-type]
    col = index - (text.rfind(newline, 0, index) + 1) + 1  # type: ignore[arg-type]
    return Position(line, col)


def _block_indent(lines: tuple[str, ...], indicator_line: int) -> int:
    for text in lines[indicator_line:]:
        if text.strip():
            return len(text) - len(text.lstrip(" "))
    return 0


def _lookup(data: JSONValue, pointer: str) -> JSONValue:
    node = data
    for token in pointer_tokens(pointer):
        if isinstance(node, list):
            node = node[int(token)]
        elif isinstance(node, dict):
            node = node[token]
        else:
            return None
    return node


# --------------------------------------------------------------------------- YAML


class _Core12Resolver(yaml.resolver.BaseResolver):
    """YAML 1.2 core schema: only true/false are booleans, so `no` (Norway) stays text."""


for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
):
    _Core12Resolver.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))

try:  # libyaml's parser and composer when PyYAML was built with it
    from yaml.cyaml import CParser as _CParser
except ImportError:  # pragma: no cover - depends on how PyYAML was installed
    _CParser = None


class _PyYamlLoader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer, _Core12Resolver):
    """Pure-Python composer: the reference for error messages and positions."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _Core12Resolver.__init__(self)


if _CParser is not None:

    class _CYamlLoader(_CParser, _Core12Resolver):  # type: ignore[misc,valid-type]
        """libyaml's composer: several times faster on large specs."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _Core12Resolver.__init__(self)

    _FAST_LOADER: type = _CYamlLoader
else:  # pragma: no cover
    _FAST_LOADER = _PyYamlLoader


_ALLOWED_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}

_YAML_HINTS: tuple[tuple[str, str], ...] = (
    ("found character '\\t' that cannot start any token", "tab character where YAML expects indentation: indent with spaces only"),
    ("found a tab character", "tab character where YAML expects indentation: indent with spaces only"),
    ("mapping values are not allowed here", "unexpected ':' here: quote a value that contains ': ', or fix the indentation of this line"),
    ("could not find expected ':'", "expected 'key: value' on this line: check its indentation and the line before it"),
    ("expected <block end>", "bad indentation: this line does not line up with the lines above it"),
    ("did not find expected key", "bad indentation: this line does not line up with the other keys of its mapping"),
    ("did not find expected '-' indicator", "bad indentation: this line does not line up with the other items of its list"),
    ("found undefined alias", "aliases (*name) are not supported in specs: write the value out"),
    ("expected a single document", "the file holds more than one YAML document ('---'): a spec is one document"),
    ("special characters are not allowed", "control character in the file: remove it (a spec is plain UTF-8 text)"),
    ("found unknown escape character", "unknown escape sequence in a double-quoted string: use single quotes, or escape the backslash as \\\\"),
    ("found unexpected end of stream", "the file ends inside a quoted string or a flow collection: close it"),
)


def _yaml_message(error: yaml.MarkedYAMLError) -> str:
    problem = str(error.problem or error.context or "YAML syntax error")
    for needle, hint in _YAML_HINTS:
        if needle in problem or needle in str(error.context or ""):
            return f"YAML syntax error: {hint}"
    context = f" ({error.context})" if error.context and error.context != problem else ""
    return f"YAML syntax error: {problem}{context}"


class _YamlBuilder:
    """Walks the composed node graph into plain data, recording positions."""

    def __init__(self, display: str, text: str):
        self.display = display
        self.text = text
        self.nodes: dict[str, NodeInfo] = {}
        self.problems: list[Diagnostic] = []
        self._seen: set[int] = set()

    def _problem(self, code: str, message: str, mark: Any, pointer: str | None) -> None:
        self.problems.append(
            Diagnostic(Severity.ERROR, code, message, self.display, Position(mark.line + 1, mark.column + 1), pointer)
        )

    def _alias_problem(self, pointer: str) -> None:
        """The composed graph shares the anchored node, so find the alias itself in the
        event stream (only on this error path) to point at the right line."""
        if any(p.code == "MF003" for p in self.problems):
            return
        mark = None
        try:
            for event in yaml.parse(self.text, Loader=_PyYamlLoader):
                if isinstance(event, yaml.AliasEvent):
                    mark = event.start_mark
                    break
        except yaml.YAMLError:
            pass
        position = Position(mark.line + 1, mark.column + 1) if mark is not None else None
        self.problems.append(
            Diagnostic(Severity.ERROR, "MF003", "aliases (*name) are not supported in specs: write the value out", self.display, position, pointer)
        )

    def build(self, node: yaml.Node, pointer: str = "", key: Position | None = None, depth: int = 0) -> JSONValue:
        if id(node) in self._seen:
            self._alias_problem(pointer)
            return None
        self._seen.add(id(node))
        start = Position(node.start_mark.line + 1, node.start_mark.column + 1)
        if depth > MAX_DEPTH:
            self._problem("MF004", f"nesting deeper than {MAX_DEPTH} levels", node.start_mark, pointer)
            return None
        if node.tag not in _ALLOWED_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            self._problem(
                "MF005", f"YAML tag '{tag}' is not allowed: a spec holds plain text, numbers, booleans, lists and mappings", node.start_mark, pointer
            )
            return None
        if isinstance(node, yaml.ScalarNode):
            self.nodes[pointer] = NodeInfo(start, key, node.style or "")
            if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and len(node.value) > MAX_NUMBER_LENGTH:
                self._problem("MF009", f"number longer than {MAX_NUMBER_LENGTH} characters: quote it if it is text", node.start_mark, pointer)
                return None
            return _scalar(node)
        self.nodes[pointer] = NodeInfo(start, key, None)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, pointer_join(pointer, i), None, depth + 1) for i, item in enumerate(node.value)]
        result: dict[str, JSONValue] = {}
        first_seen: dict[str, Position] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem("MF006", "a mapping key must be plain text, not a list or mapping", key_node.start_mark, pointer)
                continue
            if id(key_node) in self._seen:
                self._alias_problem(pointer)
                continue
            name = str(key_node.value)
            key_pos = Position(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            child = pointer_join(pointer, name)
            if name in first_seen:
                earlier = first_seen[name]
                self._problem(
                    "MF007",
                    f"duplicate key '{name}' (first defined at line {earlier.line}): "
                    "a YAML reader would silently keep only one of them; remove or rename one",
                    key_node.start_mark,
                    child,
                )
                continue
            first_seen[name] = key_pos
            result[name] = self.build(value_node, child, key_pos, depth + 1)
        return result


def _scalar(node: yaml.ScalarNode) -> JSONValue:
    value = node.value
    tag = node.tag
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        return value.lower() == "true"
    if tag == "tag:yaml.org,2002:int":
        text = value.replace("_", "")
        if text.startswith(("0o", "0x")):
            return int(text, 0)
        return int(text, 10)
    if tag == "tag:yaml.org,2002:float":
        lowered = value.lower()
        if lowered.endswith("inf"):
            return float("-inf") if lowered.startswith("-") else float("inf")
        if lowered == ".nan":
            return float("nan")
        return float(value)
    return value


def _compose(loader_class: type, text: str) -> yaml.Node | None:
    loader = None
    try:
        loader = loader_class(text)
        return loader.get_single_node()
    finally:
        if loader is not None:
            loader.dispose()


# libyaml's composer recurses in C without a limit: some 50,000 nested collections overflow
# the stack and kill the process (no exception to catch). Text with this many places that
# can open a collection goes to the pure-Python composer instead, whose recursion Python
# bounds (a RecursionError, reported as MF004). Real specs have a few hundred.
_C_COMPOSER_OPENERS = 10_000


def _could_nest_deeply(text: str) -> bool:
    return sum(text.count(opener) for opener in ("[", "{", "- ", "-\t", "? ", "?\t")) > _C_COMPOSER_OPENERS


def _load_yaml(text: str, display: str) -> tuple[JSONValue, dict[str, NodeInfo]]:
    loader = _PyYamlLoader if _could_nest_deeply(text) else _FAST_LOADER
    try:
        node = _compose(loader, text)
    except (yaml.YAMLError, RecursionError) as fast_error:
        # A broken file: compose it again with the pure-Python parser, whose messages and
        # positions are the ones maforge documents (libyaml words them differently).
        error: BaseException = fast_error
        if loader is not _PyYamlLoader:
            try:
                _compose(_PyYamlLoader, text)
            except (yaml.YAMLError, RecursionError) as reference_error:
                error = reference_error
        raise SpecError([_yaml_problem(error, display, text)]) from None
    if node is None:
        raise SpecError([_empty(display)])
    builder = _YamlBuilder(display, text)
    data = builder.build(node)
    if builder.problems:
        raise SpecError(builder.problems)
    return data, builder.nodes


def _yaml_problem(error: BaseException, display: str, text: str) -> Diagnostic:
    if isinstance(error, RecursionError):
        return Diagnostic(Severity.ERROR, "MF004", f"nesting deeper than {MAX_DEPTH} levels", display, _too_deep_at(text))
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        position = Position(mark.line + 1, mark.column + 1) if mark is not None else None
        return Diagnostic(Severity.ERROR, "MF002", _yaml_message(error), display, position)
    if isinstance(error, yaml.reader.ReaderError):
        message = f"YAML syntax error: control character {error.character!r} in the file: remove it (a spec is plain UTF-8 text)"
        return Diagnostic(Severity.ERROR, "MF002", message, display, index_position(text, min(error.position, len(text))))
    return Diagnostic(Severity.ERROR, "MF002", f"YAML syntax error: {error}", display)


def _too_deep_at(text: str) -> Position | None:
    """Where the nesting first goes deeper than MAX_DEPTH: the parser's events come one by
    one, without recursion, so this works where composing the node tree did not."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_PyYamlLoader):
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    return Position(event.start_mark.line + 1, event.start_mark.column + 1)
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        pass
    return None


def _empty(display: str) -> Diagnostic:
    return Diagnostic(
        Severity.ERROR,
        "MF001",
        "the file is empty: a spec starts with 'apiVersion: maforge/v1' (run 'maforge init' for a starter)",
        display,
        Position(1, 1),
    )


# --------------------------------------------------------------------------- JSON

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_WS = re.compile(r"[ \t\r\n]*")


class _JsonParser:
    """A small strict JSON parser that records positions and refuses duplicate keys."""

    def __init__(self, text: str, display: str):
        self.text = text
        self.display = display
        self.nodes: dict[str, NodeInfo] = {}
        self.duplicates: list[Diagnostic] = []
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def pos(self, index: int) -> Position:
        line = bisect.bisect_right(self._line_starts, index) - 1
        return Position(line + 1, index - self._line_starts[line] + 1)

    def fail(self, index: int, message: str, pointer: str | None = None) -> SpecError:
        return SpecError([Diagnostic(Severity.ERROR, "MF002", f"JSON syntax error: {message}", self.display, self.pos(index), pointer)])

    def skip(self, index: int) -> int:
        return _WS.match(self.text, index).end()  # type: ignore[union-attr]

    def parse(self) -> JSONValue:
        index = self.skip(0)
        value, index = self.value(index, "", None, 0)
        index = self.skip(index)
        if index != len(self.text):
            raise self.fail(index, "unexpected text after the end of the document")
        return value

    def value(self, index: int, pointer: str, key: Position | None, depth: int) -> tuple[JSONValue, int]:
        if depth > MAX_DEPTH:
            raise self.fail(index, f"nesting deeper than {MAX_DEPTH} levels", pointer)
        text = self.text
        if index >= len(text):
            raise self.fail(index, "unexpected end of file: a value is missing")
        char = text[index]
        start = self.pos(index)
        if char == "{":
            self.nodes[pointer] = NodeInfo(start, key)
            return self.obj(index + 1, pointer, depth)
        if char == "[":
            self.nodes[pointer] = NodeInfo(start, key)
            return self.arr(index + 1, pointer, depth)
        if char == '"':
            self.nodes[pointer] = NodeInfo(start, key, "json")
            return self.string(index)
        for word, result in (("true", True), ("false", False), ("null", None)):
            if text.startswith(word, index):
                self.nodes[pointer] = NodeInfo(start, key, "")
                return result, index + len(word)
        match = _NUMBER.match(text, index)
        if match and match.end() > index:
            self.nodes[pointer] = NodeInfo(start, key, "")
            number = match.group(0)
            if len(number) > MAX_NUMBER_LENGTH:
                raise self.fail(index, f"number longer than {MAX_NUMBER_LENGTH} characters: quote it if it is text", pointer)
            if match.group(1) or match.group(2):
                return float(number), match.end()
            return int(number), match.end()
        raise self.fail(index, f"unexpected character {text[index]!r}: expected a value")

    def string(self, index: int) -> tuple[str, int]:
        try:
            return scanstring(self.text, index + 1, True)
        except json.JSONDecodeError as error:
            raise self.fail(error.pos, error.msg) from None

    def obj(self, index: int, pointer: str, depth: int) -> tuple[dict[str, JSONValue], int]:
        result: dict[str, JSONValue] = {}
        first_seen: dict[str, Position] = {}
        index = self.skip(index)
        if self.text.startswith("}", index):
            return result, index + 1
        while True:
            index = self.skip(index)
            if not self.text.startswith('"', index):
                raise self.fail(index, "expected a key in double quotes", pointer)
            key_pos = self.pos(index)
            name, index = self.string(index)
            index = self.skip(index)
            if not self.text.startswith(":", index):
                raise self.fail(index, "expected ':' after the key", pointer)
            child = pointer_join(pointer, name)
            value, index = self.value(self.skip(index + 1), child, key_pos, depth + 1)
            if name in first_seen:
                self.duplicates.append(
                    Diagnostic(
                        Severity.ERROR,
                        "MF007",
                        f"duplicate key '{name}' (first defined at line {first_seen[name].line}): "
                        "a JSON reader would silently keep only one of them; remove or rename one",
                        self.display,
                        key_pos,
                        child,
                    )
                )
            else:
                first_seen[name] = key_pos
                result[name] = value
            index = self.skip(index)
            if self.text.startswith(",", index):
                index += 1
                continue
            if self.text.startswith("}", index):
                return result, index + 1
            raise self.fail(index, "expected ',' or '}'", pointer)

    def arr(self, index: int, pointer: str, depth: int) -> tuple[list[JSONValue], int]:
        result: list[JSONValue] = []
        index = self.skip(index)
        if self.text.startswith("]", index):
            return result, index + 1
        while True:
            value, index = self.value(self.skip(index), pointer_join(pointer, len(result)), None, depth + 1)
            result.append(value)
            index = self.skip(index)
            if self.text.startswith(",", index):
                index += 1
                continue
            if self.text.startswith("]", index):
                return result, index + 1
            raise self.fail(index, "expected ',' or ']'", pointer)


# --------------------------------------------------------------------------- entry point


def _decode(raw: bytes, display: str) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SpecError(
            [Diagnostic(Severity.ERROR, "MF008", "the file is UTF-16: save it as UTF-8", display, Position(1, 1))]
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        message = f"the file is not UTF-8 (byte 0x{raw[error.start]:02x}): save it as UTF-8"
        raise SpecError([Diagnostic(Severity.ERROR, "MF008", message, display, index_position(raw, error.start))]) from None


def is_json_path(path: Path) -> bool:
    """`.json` files are read as strict JSON; everything else as YAML (which reads most
    JSON too, but without JSON's precise error positions)."""
    return path.suffix.lower() == ".json"


def load_text(text: str, path: Path, display: str | None = None) -> Document:
    """Parse spec text that has already been read; ``path`` decides YAML or JSON."""
    shown = display or str(path)
    if not text.strip():
        raise SpecError([_empty(shown)])
    if "\x00" in text:
        position = index_position(text, text.index("\x00"))
        raise SpecError([Diagnostic(Severity.ERROR, "MF008", "NUL character in the file: a spec is plain UTF-8 text", shown, position)])
    if is_json_path(path):
        parser = _JsonParser(text, shown)
        data = parser.parse()
        if parser.duplicates:
            raise SpecError(parser.duplicates)
        nodes = parser.nodes
    else:
        data, nodes = _load_yaml(text, shown)
    return Document(path=path, display=shown, data=data, nodes=nodes, lines=tuple(text.splitlines()))


class UnreadableFile(Exception):
    """The file could not be read at all (missing, a directory, no permission, too large)."""


def read_bytes(path: Path, *, limit: int = MAX_SPEC_BYTES, what: str = "a spec") -> bytes:
    """A whole input file, refused when it is missing, a folder or larger than ``limit``."""
    try:
        if path.is_dir():
            raise UnreadableFile(f"{path}: is a directory, not {what}")
        size = path.stat().st_size
        if size > limit:
            raise UnreadableFile(f"{path}: {size} bytes is larger than the {limit}-byte limit for {what}")
        return path.read_bytes()
    except FileNotFoundError:
        raise UnreadableFile(f"{path}: no such file") from None
    except PermissionError:
        raise UnreadableFile(f"{path}: permission denied") from None
    except OSError as error:
        raise UnreadableFile(f"{path}: cannot read ({error.strerror or error})") from None


def load_document(path: Path, display: str | None = None) -> Document:
    """Read and parse a spec. Raises :class:`UnreadableFile` or :class:`SpecError`."""
    shown = display or str(path)
    raw = read_bytes(path)
    return load_text(_decode(raw, shown), path, shown)
