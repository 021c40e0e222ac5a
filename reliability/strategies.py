"""Hypothesis strategies and mutators shared by reliability/properties.py and the test suite
(tests/test_fuzz.py): junk shaped like the inputs maforge reads, and ways to damage real ones.

Nothing here runs anything; it only describes inputs."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SAMPLE_SPEC = SAMPLES / "spo-user-profiles.yaml"
# The MA exports of real servers, when the shared reference folder sits beside this checkout.
REFERENCE_EXPORTS = ROOT.parent / "shared" / "reference" / "ma-exports"

# --------------------------------------------------------------------------- specs

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)

# The characters YAML gives a meaning to, and a few that start tokens.
YAML_PUNCTUATION = list("abc:-[]{}'\"#&*!|>%@`\t\n ,?~0123456789")
yaml_soup = st.text(alphabet=st.sampled_from(YAML_PUNCTUATION), max_size=300)


def load_sample() -> dict[str, Any]:
    """The SPO sample spec as plain data (read with PyYAML, which is fine for our own file)."""
    import yaml

    return yaml.safe_load(SAMPLE_SPEC.read_text(encoding="utf-8"))


def paths(node: Any, prefix: tuple[Any, ...] = ()):
    """Every path into ``node`` (dict keys and list indexes), the root first."""
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from paths(child, (*prefix, i))


def mutate_data(data: Any, all_paths: list[tuple[Any, ...]], seed: int, replacement: Any, mutations: int) -> Any:
    """A deep copy of ``data`` with ``mutations`` values replaced by ``replacement`` or
    deleted, at paths chosen by ``seed``. Schema-valid results are common, so the stages after
    the schema check see odd input too."""
    rng = random.Random(seed)
    data = copy.deepcopy(data)
    for _ in range(mutations):
        path = rng.choice(all_paths)
        parent = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            if rng.random() < 0.5 and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = copy.deepcopy(replacement)
        except (KeyError, IndexError, TypeError):
            continue
    return data


def mutated_sample_specs(sample: dict[str, Any]):
    """The sample spec with 1-4 parts replaced by random values or deleted."""
    all_paths = [p for p in paths(sample) if p]
    return st.builds(
        lambda seed, replacement, count: mutate_data(sample, all_paths, seed, replacement, count),
        st.integers(0, 2**32 - 1),
        json_values,
        st.integers(1, 4),
    )


# --------------------------------------------------------------------------- bytes


def damage_bytes(data: bytes, rng: random.Random) -> bytes:
    """One random byte-level edit of ``data``: cut it short, drop, repeat or overwrite a span,
    flip a byte, or splice in markup."""
    if not data:
        return bytes([rng.randrange(256)])
    kind = rng.randrange(6)
    at = rng.randrange(len(data))
    span = rng.randint(1, 64)
    if kind == 0:
        return data[:at]
    if kind == 1:
        return data[:at] + data[at + span :]
    if kind == 2:
        return data[:at] + data[at : at + span] * rng.randint(2, 5) + data[at:]
    if kind == 3:
        return data[:at] + bytes(rng.randrange(256) for _ in range(min(span, 8))) + data[at + 8 :]
    if kind == 4:
        return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]
    snippet = rng.choice([b"<", b">", b"&", b"]]>", b"<!--", b"<x>", b"</ma-data>", b"&amp", b"\x00", b"\xff\xfe", b"'", b'"'])
    return data[:at] + snippet + data[at:]


# --------------------------------------------------------------------------- JSON documents


def damage_json(data: Any, rng: random.Random, replacement: Any) -> Any:
    """One structural edit of a JSON document: drop a key, replace a value with
    ``replacement``, add an unknown key, change a value's type, or put other text where
    text is."""
    data = copy.deepcopy(data)
    targets = [p for p in paths(data)]
    path = rng.choice(targets)
    parent: Any = None
    node = data
    for key in path:
        parent, node = node, node[key]
    kind = rng.randrange(5)
    if kind == 4 and path and isinstance(node, str):
        # Another text where text belongs: often still a valid plan, so what the reader
        # accepts gets checked too.
        parent[path[-1]] = replacement if isinstance(replacement, str) else json.dumps(replacement)
    elif kind == 4 and isinstance(node, list) and (not node or isinstance(node[0], str)):
        node.append(replacement if isinstance(replacement, str) else json.dumps(replacement))
    elif kind == 0 and path and isinstance(parent, dict):
        del parent[path[-1]]
    elif kind == 1 and path:
        parent[path[-1]] = copy.deepcopy(replacement)
    elif kind == 2 and isinstance(node, dict):
        node[f"unknown_{rng.randrange(1000)}"] = copy.deepcopy(replacement)
    elif path:
        value = parent[path[-1]]
        swapped = {str: 1, int: "1", bool: "true", type(None): "", list: {}, dict: []}.get(type(value), None)
        if isinstance(value, float):
            swapped = str(value)
        parent[path[-1]] = swapped
    return data


def to_json_bytes(data: Any) -> bytes:
    return json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8")
