"""The compiled rules of one connector, loaded once: from a built package (DIR/python/<pkg>)
or straight from a spec (compiled in memory). Both are the same rules.py and manifest, so
`python -m <pkg> plan` and `maforge plan SPEC` cannot disagree."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maforge.connectors.spo.connection import spec_sign_in

from .connectorfilter import Filter, compile_filter

RULES_FORMAT = 1

FlowFunction = Callable[[dict[str, Any], Any], dict[str, Any]]
JoinFunction = Callable[[dict[str, Any], Any], list[list[tuple[str, Any]]]]


class RuleBookError(Exception):
    """A package or spec whose rules cannot be loaded; says what to rebuild."""


@dataclass(frozen=True, slots=True)
class SourceRules:
    name: str
    config: dict[str, Any]  # the manifest entry: type, path, delimiter, ranks, …
    flows: FlowFunction
    join: JoinFunction

    @property
    def project(self) -> bool:
        return bool(self.config.get("project"))


@dataclass(frozen=True, slots=True)
class ConnectorRules:
    """The export side for one connector-space object type (SPO: `user`)."""

    cs_object_type: str
    mv_object_type: str
    join: JoinFunction
    export: FlowFunction
    when_null: dict[str, str]
    managed: list[str]
    multi_valued: frozenset[str]
    join_attributes: tuple[str, ...]
    anchor: tuple[str, ...]
    anchor_join: str | None
    described: dict[str, str]  # property → how its flow reads ("from mobile", "expression …")
    filtered: Filter | None = None  # the declared connector filter: why an object is filtered, or None
    filter_scripted: bool = False  # the filter is in the rules extension: the plan cannot evaluate it
    ordered: frozenset[str] = frozenset()  # multi-valued properties whose value order matters
    import_flows: FlowFunction | None = None  # this MA's own import flows (profile → metaverse values)
    import_ranks: dict[str, int] | None = None  # their ranks, where the spec gives one
    reads: dict[str, tuple[str, ...]] | None = None  # export target → the metaverse attributes its flow reads
    profile_properties: tuple[str, ...] = ()  # what import and refresh read of a profile (managed ones and more)
    readers: dict[str, tuple[str, ...]] | None = None  # metaverse attribute → the export targets whose flows read it


def _readers(reads: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
    """Invert export target → attributes read, once per rule book: the planner asks it per
    profile (which flows read an attribute this MA imported)."""
    readers: dict[str, list[str]] = {}
    for target, names in reads.items():
        for name in names:
            readers.setdefault(name, []).append(target)
    return {name: tuple(targets) for name, targets in readers.items()}


@dataclass(frozen=True, slots=True)
class RuleBook:
    manifest: dict[str, Any]
    sources: tuple[SourceRules, ...]
    connectors: tuple[ConnectorRules, ...]
    # The folder the spec's relative paths start from; None for a built package (then the
    # current folder, as for its sources).
    base_dir: Path | None = None

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def spec_hash(self) -> str:
        return str(self.manifest.get("spec_hash") or "")

    @property
    def protect(self) -> tuple[str, ...]:
        """Properties apply must never change (`sharepoint.protect`)."""
        return tuple(self.manifest.get("protect") or ())

    @property
    def budget_per_5_minutes(self) -> int | None:
        """The PeopleManager calls per 5 minutes the spec allows (`sharepoint.budget`), or None
        to learn the rate."""
        value = self.manifest.get("budget_per_5_minutes")
        return int(value) if value else None

    @property
    def tenant(self) -> str | None:
        return self.manifest.get("tenant")

    @property
    def sign_in_defaults(self) -> dict[str, str]:
        """The spec's sign-in settings (`sharepoint.auth`, the connectivity User and Password
        reference) as a connection's defaults, relative paths resolved against the spec's
        folder. A package built before they were recorded has none."""
        return spec_sign_in(self.manifest.get("sign_in") or {}, self.base_dir)

    def connector(self, cs_object_type: str = "user") -> ConnectorRules:
        for connector in self.connectors:
            if connector.cs_object_type == cs_object_type:
                return connector
        raise RuleBookError(f"connector {self.name!r} has no export flows for object type {cs_object_type!r}")

    def mv_multi_valued(self, mv_object_type: str) -> frozenset[str]:
        attributes = self.manifest.get("metaverse", {}).get(mv_object_type, {})
        return frozenset(name for name, info in attributes.items() if info.get("multi_valued"))

    def mv_precedence(self, mv_object_type: str) -> dict[str, str]:
        """Metaverse attribute → ranked | equal | manual (the spec's `precedence`)."""
        attributes = self.manifest.get("metaverse", {}).get(mv_object_type, {})
        return {name: str(info.get("precedence") or "ranked") for name, info in attributes.items()}

    @classmethod
    def from_parts(cls, manifest: dict[str, Any], module_source: str) -> RuleBook:
        if manifest.get("format") != RULES_FORMAT:
            raise RuleBookError(f"rules of format {manifest.get('format')!r}; this maforge reads format {RULES_FORMAT}: build the connector again")
        namespace: dict[str, Any] = {"__name__": "maforge_rules"}
        exec(compile(module_source, f"<rules of {manifest.get('name')}>", "exec"), namespace)  # noqa: S102 - maforge's own generated code
        sources = tuple(SourceRules(s["name"], s, namespace[s["flows"]], namespace[s["join"]]) for s in manifest.get("sources", []))
        connectors = tuple(
            ConnectorRules(
                c["cs_object_type"],
                c["mv_object_type"],
                namespace[c["join"]],
                namespace[c["export"]],
                dict(c["when_null"]),
                list(c["managed"]),
                frozenset(c["multi_valued"]),
                tuple(c.get("join_attributes", ())),
                tuple(c.get("anchor", ())),
                c.get("anchor_join"),
                dict(c.get("flows", {})),
                compile_filter(c.get("filter", [])),
                any(a.get("scripted") for a in c.get("filter", [])),
                frozenset(c.get("ordered", ())),
                namespace[c["import"]] if c.get("import") else None,
                {k: int(v) for k, v in (c.get("import_ranks") or {}).items()},
                {k: tuple(v) for k, v in (c.get("reads") or {}).items()},
                tuple(c.get("profile_properties") or c["managed"]),
                _readers(c.get("reads") or {}),
            )
            for c in manifest.get("connectors", [])
        )
        return cls(manifest, sources, connectors)

    @classmethod
    def from_package(cls, package_dir: Path) -> RuleBook:
        try:
            manifest = json.loads((package_dir / "manifest.json").read_text(encoding="utf-8"))
            source = (package_dir / "rules.py").read_text(encoding="utf-8")
        except (OSError, json.JSONDecodeError) as error:
            raise RuleBookError(f"{package_dir}: not a built maforge connector ({error}); run `maforge build` again") from None
        return cls.from_parts(manifest, source)

    @classmethod
    def from_spec(cls, spec: Any) -> RuleBook:
        from maforge.compiler.python.emit import compile_rules, spec_hash

        compiled = compile_rules(spec, spec_hash(spec))
        book = cls.from_parts(compiled.manifest, compiled.module_source)
        path = getattr(spec, "path", None)
        return dataclasses.replace(book, base_dir=Path(path).resolve().parent) if path else book
