"""Emitter: the model → the native Python runtime of a connector.

Generates one Python module (`rules.py`) in which every source's import flows and join
criteria, the connector's join rules and its export flows are plain functions, expressions
compiled once to Python source (expressions.py), plus a JSON manifest of everything else the
runtime needs (managed properties, null handling, precedence, sources). `maforge build`
writes them as a package under DIR/python/; `maforge plan` compiles the same source in
memory, so both run one rule book.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from maforge import __version__
from maforge.connectors.sync.rulebook import RULES_FORMAT
from maforge.templates import environment

from .expressions import to_python
from ..model import ConnectorSpec, JoinCriterion, MappingKind, ValueMapping



@dataclass(frozen=True, slots=True)
class CompiledRules:
    module_source: str  # rules.py
    manifest: dict[str, Any]
    package: str


def package_name(spec: ConnectorSpec) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", spec.name.lower()).strip("_") or "connector"
    return f"{slug if slug[0].isalpha() else 'ma_' + slug}_connector"


def _identifier(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9]+", "_", p).strip("_") or "x" for p in parts)


def _mapping_code(mapping: ValueMapping, what: str) -> tuple[str | None, str | None]:
    """(Python expression, or None with the reason the runtime cannot evaluate it)."""
    if mapping.kind is MappingKind.DIRECT:
        return f"row.get({mapping.source!r})", None
    if mapping.kind is MappingKind.CONSTANT:
        return repr(mapping.constant), None
    if mapping.kind is MappingKind.EXPRESSION and mapping.expression is not None:
        return to_python(mapping.expression), None
    if mapping.kind is MappingKind.SCRIPT:
        return None, f"{what} runs in a MIM rules extension ({mapping.script_context}); maforge cannot evaluate it"
    return None, f"{what} takes a part of the object's DN, which the runtime's objects do not have"


def describe_mapping(mapping: ValueMapping) -> str:
    """How a person reads a mapping, for `maforge preview` and the manifest."""
    if mapping.kind is MappingKind.DIRECT:
        return f"from {mapping.source}"
    if mapping.kind is MappingKind.CONSTANT:
        return f"constant {mapping.constant!r}"
    if mapping.kind is MappingKind.EXPRESSION and mapping.expression is not None:
        return f"expression {mapping.expression.text}"
    if mapping.kind is MappingKind.SCRIPT:
        return f"rules extension {mapping.script_context}"
    return f"dnPart {mapping.dn_part}"


def _flow_function(name: str, flows: tuple[Any, ...], describe: str, lines: list[str], unsupported: list[dict[str, str]]) -> None:
    lines.append(f"def {name}(row, now):")
    lines.append(f'    """{describe}"""')
    lines.append("    return {")
    for flow in flows:
        code, reason = _mapping_code(flow.mapping, f"flow into {flow.target}")
        if code is None:
            unsupported.append({"function": name, "target": flow.target, "reason": str(reason)})
            continue
        lines.append(f"        {flow.target!r}: {code},")
    lines.append("    }")
    lines.append("")
    lines.append("")


def _join_function(name: str, rules: list[tuple[JoinCriterion, ...]], describe: str, lines: list[str], unsupported: list[dict[str, str]]) -> None:
    """A function giving, per join rule in order, the (mv attribute, value) pairs to match."""
    lines.append(f"def {name}(row, now):")
    lines.append(f'    """{describe}"""')
    lines.append("    return [")
    for criteria in rules:
        pairs = []
        for criterion in criteria:
            code, reason = _mapping_code(criterion.mapping, f"join on {criterion.mv_attribute}")
            if code is None:
                unsupported.append({"function": name, "target": criterion.mv_attribute, "reason": str(reason)})
                pairs = []
                break
            pairs.append(f"({criterion.mv_attribute!r}, {code})")
        lines.append(f"        [{', '.join(pairs)}],")
    lines.append("    ]")
    lines.append("")
    lines.append("")


def spec_hash(spec: ConnectorSpec) -> str:
    """What a plan records to say which spec made it: the spec file's bytes and the
    environment merged in (the same bytes give the same hash on any machine)."""
    digest = hashlib.sha256()
    try:
        digest.update(spec.path.read_bytes())
    except OSError:
        digest.update(spec.name.encode("utf-8"))
    digest.update(b"\0" + (spec.environment or "").encode("utf-8"))
    return digest.hexdigest()


def compile_rules(spec: ConnectorSpec, spec_digest: str = "") -> CompiledRules:
    lines = [
        f'"""Rules of "{spec.name}", compiled by maforge {__version__}. Do not edit: change the spec and build again.',
        "",
        "Each function takes one row (a dict of attribute values) and `now`, the run's fixed clock.",
        '"""',
        "",
        "from maforge.connectors.sync import functions as F  # noqa: F401",
        "",
        "",
    ]
    unsupported: list[dict[str, str]] = []
    multi_valued_mv = {t.name: {a.name for a in t.attributes if a.multi_valued} for t in spec.mv_object_types}
    sources = []
    for source in spec.sources:
        flows_fn = _identifier("source", source.name, "flows")
        join_fn = _identifier("source", source.name, "join")
        _flow_function(flows_fn, source.flows, f"Metaverse values from one row of source {source.name!r}.", lines, unsupported)
        _join_function(join_fn, [rule.criteria for rule in source.join], f"Join keys of one row of source {source.name!r}, per join rule.", lines, unsupported)
        sources.append(
            {
                "name": source.name,
                "type": source.type.value,
                "path": source.written_path,
                "encoding": source.encoding,
                "delimiter": source.delimiter,
                "multi_value_separator": source.multi_value_separator,
                "filter": source.filter,
                "fields": list(source.fields) if source.fields else None,
                "mv_object_type": source.mv_object_type,
                "key": source.key,
                "project": source.project,
                "ranks": {f.target: f.rank for f in source.flows if f.rank is not None},
                "targets": [f.target for f in source.flows],
                # Columns that hold several values in one cell: split before the flows run,
                # as MIM's file connectors hand a multi-valued attribute to the sync engine.
                "multi_columns": sorted(
                    {
                        f.mapping.source
                        for f in source.flows
                        if f.mapping.kind is MappingKind.DIRECT and f.mapping.source and f.target in multi_valued_mv.get(source.mv_object_type, set())
                    }
                ),
                "flows": flows_fn,
                "join": join_fn,
                "join_attributes": sorted({c.mv_attribute for rule in source.join for c in rule.criteria}),
            }
        )
    connectors: list[dict[str, Any]] = []
    for flow_set in spec.export_flows:
        rules = [rule for rule in spec.join if rule.cs_object_type == flow_set.cs_object_type and rule.mv_object_type in (None, flow_set.mv_object_type)]
        join_fn = _identifier("join", flow_set.cs_object_type)
        export_fn = _identifier("export", flow_set.cs_object_type, flow_set.mv_object_type)
        _join_function(join_fn, [rule.criteria for rule in rules], f"Join keys of one {flow_set.cs_object_type!r} object, per join rule.", lines, unsupported)
        _flow_function(export_fn, flow_set.flows, f"Values the MA exports to one {flow_set.cs_object_type!r} object.", lines, unsupported)
        import_flows = tuple(f for s in spec.import_flows if s.cs_object_type == flow_set.cs_object_type and s.mv_object_type == flow_set.mv_object_type for f in s.flows)
        import_fn = _identifier("import", flow_set.cs_object_type, flow_set.mv_object_type) if import_flows else None
        if import_fn is not None:
            _flow_function(import_fn, import_flows, f"Metaverse values the MA's own import flows take from one {flow_set.cs_object_type!r} object.", lines, unsupported)
        object_type = spec.object_type(flow_set.cs_object_type)
        connectors.append(
            {
                "cs_object_type": flow_set.cs_object_type,
                "mv_object_type": flow_set.mv_object_type,
                "join": join_fn,
                "export": export_fn,
                "when_null": {f.target: f.when_null.value for f in flow_set.flows},
                "managed": [f.target for f in flow_set.flows],
                "flows": {f.target: describe_mapping(f.mapping) for f in flow_set.flows},
                # The metaverse attributes each export flow reads: MIM does not run an export
                # flow whose source value this MA itself contributed (planner.py says more).
                "reads": {f.target: list(f.mapping.source_attributes()) for f in flow_set.flows},
                # This MA's own import flows into the metaverse, with their ranks.
                "import": import_fn,
                # What an import or refresh must read of each profile: the managed properties,
                # and what the connector filter, the join rules and the import flows look at.
                "profile_properties": sorted(
                    {f.target for f in flow_set.flows}
                    | {c.attribute for a in spec.connector_filter if a.cs_object_type == flow_set.cs_object_type for c in a.conditions}
                    | {name for rule in rules for c in rule.criteria for name in c.mapping.source_attributes()}
                    | {name for f in import_flows for name in f.mapping.source_attributes()}
                ),
                "import_ranks": {f.target: f.rank for f in import_flows if f.rank is not None},
                "multi_valued": [a.name for a in object_type.attributes if a.multi_valued] if object_type else [],
                "ordered": [f.target for f in flow_set.flows if f.ordered],
                "anchor": list(object_type.anchor) if object_type else [],
                "join_attributes": sorted({c.mv_attribute for rule in rules for c in rule.criteria}),
                # The connector filter: a profile that meets it is a filtered disconnector,
                # never joined (connectors/sync/connectorfilter.py says how it is evaluated).
                "filter": [
                    {
                        "scripted": alternative.scripted,
                        "conditions": [{"attribute": c.attribute, "operator": c.operator, "value": c.value} for c in alternative.conditions],
                    }
                    for alternative in spec.connector_filter
                    if alternative.cs_object_type == flow_set.cs_object_type
                ],
                # The metaverse attribute a profile's anchor joins to directly: lets a refresh
                # read exactly the profiles the sources name instead of the whole tenant.
                "anchor_join": next(
                    (
                        c.mv_attribute
                        for rule in rules
                        for c in rule.criteria
                        if object_type and c.mapping.kind is MappingKind.DIRECT and c.mapping.source in object_type.anchor
                    ),
                    None,
                ),
            }
        )
    metaverse = {
        t.name: {a.name: {"multi_valued": a.multi_valued, "precedence": a.precedence.value} for a in t.attributes} for t in spec.mv_object_types
    }
    sharepoint = spec.sharepoint
    manifest = {
        "format": RULES_FORMAT,
        "maforge": __version__,
        "name": spec.name,
        "type": spec.type.value,
        "spec_hash": spec_digest,
        "environment": spec.environment,
        "tenant": sharepoint.tenant if sharepoint else None,
        "company": sharepoint.company if sharepoint else None,
        "protect": list(sharepoint.protect) if sharepoint else [],
        "budget_per_5_minutes": sharepoint.budget_per_5_minutes if sharepoint else None,
        "sign_in": sign_in_settings(spec),
        "sources": sources,
        "connectors": connectors,
        "metaverse": metaverse,
        "unsupported": unsupported,
    }
    return CompiledRules("\n".join(lines).rstrip() + "\n", manifest, package_name(spec))


def sign_in_settings(spec: ConnectorSpec) -> dict[str, str]:
    """The spec's sign-in settings, as the defaults of `plan`, `apply` and `import` (a
    connection file and the AZURE_* variables override them; connection.py). The names are
    the connection file's. Only references go in: paths and `${env:NAME}`/`${file:PATH}` as
    written, never a secret value (the connectivity password is a reference by schema)."""
    auth = spec.sharepoint.auth if spec.sharepoint else None
    if auth is None:
        return {}
    settings = {
        "auth_method": auth.method.value,
        "client_id": auth.client_id,
        "certificate": auth.certificate_path,
        "federated_token_file": auth.federated_token_file,
        "username": spec.connectivity.user,
        "password": spec.connectivity.password,
    }
    return {key: value for key, value in settings.items() if value}


def package_files(spec: ConnectorSpec) -> dict[str, str]:
    """DIR/python/<package>/…: the rules, the manifest, and the entry points."""
    compiled = compile_rules(spec, spec_hash(spec))
    env = environment()
    base = f"python/{compiled.package}"
    context = {"spec": spec, "package": compiled.package, "version": __version__}
    return {
        f"{base}/rules.py": compiled.module_source,
        f"{base}/manifest.json": json.dumps(compiled.manifest, indent=2, ensure_ascii=False) + "\n",
        f"{base}/__init__.py": env.get_template("python/__init__.py.j2").render(context),
        f"{base}/__main__.py": env.get_template("python/__main__.py.j2").render(context),
    }


__all__ = ["CompiledRules", "compile_rules", "package_files", "package_name", "spec_hash"]
