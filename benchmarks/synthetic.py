"""Synthetic specs for benchmarks: large, valid, deterministic."""

from __future__ import annotations

from pathlib import Path

import yaml


def write_large_spec(folder: Path, object_types: int = 20, attributes: int = 200, flows: int = 500) -> Path:
    """A `powershell` connector with ``object_types`` × ``attributes`` and ``flows`` export
    flows spread over the object types (every fifth one an expression)."""
    scripts = folder / "scripts"
    scripts.mkdir(parents=True, exist_ok=True)
    for name in ("schema.ps1", "import.ps1", "export.ps1"):
        (scripts / name).write_text(f"# {name} of the synthetic benchmark connector\n$null = $ConfigParameters\n", encoding="utf-8")
    types = {}
    for t in range(object_types):
        attrs = {"Id": {"access": "ImportOnly"}}
        for a in range(attributes - 1):
            attrs[f"Attr{a:03d}"] = {"multiValued": True} if a % 17 == 0 else None
        types[f"type{t:02d}"] = {"anchor": "Id", "attributes": attrs}
    per_type = flows // object_types
    mv_attributes = {f"mv{a:03d}": None for a in range(per_type)}
    export_flows = []
    for t in range(object_types):
        mapping = {}
        for a in range(per_type):
            target = f"Attr{a + 1:03d}" if (a + 1) % 17 else f"Attr{a + 200 - 1 - 17:03d}"
            source = f"mv{a:03d}"
            mapping[target] = {"expression": f"Trim([{source}])"} if a % 5 == 0 else {"from": source}
        export_flows.append({"objectType": f"type{t:02d}", "mvObjectType": "thing", "attributes": mapping})
    spec = {
        "apiVersion": "maforge/v1",
        "kind": "Connector",
        "name": "Synthetic",
        "type": "powershell",
        "mim": {"rulesExtension": {"assembly": "Synthetic.Rules.dll"}},
        "capabilities": {"distinguishedNameStyle": "Generic", "exportType": "AttributeReplace", "export": True},
        "scripts": {"schema": "scripts/schema.ps1", "import": "scripts/import.ps1", "export": "scripts/export.ps1"},
        "schema": {"objectTypes": types},
        "metaverse": {"objectTypes": {"thing": {"attributes": mv_attributes}}},
        "exportFlows": export_flows,
        "runProfiles": {"Full Import": [{"type": "full-import"}], "Export": [{"type": "export", "pageSize": 100}]},
    }
    path = folder / "synthetic.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path
