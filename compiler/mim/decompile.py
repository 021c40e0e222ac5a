"""`maforge import-ma`: an existing MA export → a spec, its scripts, and what is carried.

The decompiler models what the spec language can say (identity, connectivity, capabilities,
parameters and scripts of the PowerShell connector, schema, partitions, run profiles, rules,
flows, pinned GUIDs) and then proves it: it builds the spec back into XML and compares it,
section by section, with the original after canonical normalisation. Every section that does
not come back identical is carried verbatim in `mim.preserve`, at the finest level that makes
the round trip exact. Nothing is dropped silently, and the report says what was carried and why.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from maforge.schemas import load_schema

from .. import psconnector, psma
from .canonical import canonicalize, facts
from .capabilities import DN_STYLE_BITS, EXPORT_TYPES, NORMALIZATION_BITS
from .maexport import DSML_NS, EXPORT_PASSWORD, MS_DSML_NS, STEP_TYPES, SYNTAX_OID
from .psmapages import targets_psma
from .mimxml import UnsafeOrBrokenXml, parse_untrusted
from ..model import AttributeType, StepType
from ..powershell.scriptset import SCRIPT_FILES

MA_ROOTS = ("export-ma", "saved-ma-configuration", "ma-data")
_OID_TYPES = {oid: kind.value for kind, oid in SYNTAX_OID.items()}
# What the spec accepts as a PSMA script's server path (schema $defs/windowsScriptPath).
_SERVER_SCRIPT_PATH = re.compile(load_schema("connector")["$defs"]["windowsScriptPath"]["pattern"])
_KEY_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


class ImportError_(Exception):
    """An MA file that cannot be imported (wrong root, unsafe, malformed)."""


class Unmodeled(Exception):
    """A section holds something the spec language cannot say; it is carried instead."""


@dataclass(slots=True)
class Carried:
    path: str
    reason: str


@dataclass(slots=True)
class Decompiled:
    spec: dict[str, Any]
    scripts: dict[str, str]  # relative file path → text
    carried: list[Carried] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ma: etree._Element | None = None
    mv_flows: etree._Element | None = None


def _ms(local: str) -> str:
    return f"{{{MS_DSML_NS}}}{local}"


def _dsml(local: str) -> str:
    return f"{{{DSML_NS}}}{local}"


def _key(text: str, taken: set[str]) -> str:
    base = _KEY_CHARS.sub("-", text).strip("-.") or "partition"
    if not base[0].isalnum():
        base = f"p{base}"
    base = base[:100]
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    taken.add(key)
    return key


def _text(element: etree._Element | None, path: str, default: str = "") -> str:
    if element is None:
        return default
    value = element.findtext(path)
    return default if value is None else value


def own_import_flows(flows: etree._Element | None, ma_id: str) -> etree._Element | None:
    """A copy of `import-attribute-flow` with only the flows and options of ``ma_id``."""
    if flows is None:
        return None
    mine = copy.deepcopy(flows)
    for flow_set in list(mine.findall("import-flow-set")):
        for group in list(flow_set.findall("import-flows")):
            for flow in list(group):
                if flow.get("src-ma") != ma_id:
                    group.remove(flow)
            if len(group) == 0:
                flow_set.remove(group)
        if len(flow_set) == 0:
            mine.remove(flow_set)
    for options in list(mine.iterfind("per-ma-options/ma-options")):
        if options.get("ma-id") != ma_id:
            options.getparent().remove(options)
    return mine


class _Decompiler:
    def __init__(self, ma: etree._Element, root: etree._Element, mv_flows: etree._Element | None):
        self.ma = ma
        self.root = root
        self.mv_flows = mv_flows
        self.ma_id = _text(ma, "id")
        self.spec: dict[str, Any] = {}
        self.scripts: dict[str, str] = {}
        self.carried: list[Carried] = []
        self.notes: list[str] = []
        self.ids: dict[str, str] = {}
        self.cs_types: dict[str, dict[str, Any]] = {}
        self.mv_types: dict[str, dict[str, Any]] = {}
        self.partition_keys: dict[str, str] = {}
        subtype = _text(ma, "subtype")
        self.powershell = ma.findtext("category") == psconnector.CATEGORY and subtype == psconnector.SUBTYPE
        self.psma = targets_psma(ma)

    # ------------------------------------------------------------------ helpers

    def section(self, name: str, build: Callable[[], Any]) -> Any:
        """Model one section; an Unmodeled section is left out entirely (the round trip then
        carries it), including anything it had already added."""
        saved = (copy.deepcopy(self.spec), dict(self.ids), copy.deepcopy(self.mv_types), dict(self.scripts))
        try:
            return build()
        except (Unmodeled, ValueError) as reason:  # ValueError: a number that is not one, in a damaged or odd file
            self.spec, self.ids, self.mv_types, self.scripts = saved
            self.notes.append(f"{name}: {reason}")
            return None

    def mv_attribute(self, mv_type: str, name: str, like: dict[str, Any] | None = None) -> None:
        attributes = self.mv_types.setdefault(mv_type, {})
        if name not in attributes:
            definition: dict[str, Any] = {}
            if like:
                if like.get("type", "string") != "string":
                    definition["type"] = like["type"]
                if like.get("multiValued"):
                    definition["multiValued"] = True
            attributes[name] = definition or None

    def cs_attribute(self, cs_type: str, name: str) -> dict[str, Any] | None:
        spec = self.cs_types.get(cs_type, {}).get("attributes", {})
        if name not in spec:
            return None
        return spec[name] or {}

    def mapping(self, element: etree._Element, *, join: bool = False) -> dict[str, Any]:
        """A direct / constant / dn-part / scripted mapping element → the spec's mapping."""
        direct = element.find("direct-mapping")
        if direct is not None:
            source = direct.find("src-attribute")
            if source is None or source.get("intrinsic") == "true":
                raise Unmodeled("an intrinsic source attribute (dn or object-id) is not modelled yet")
            return {"from": source.text}
        constant = element.find("constant-mapping")
        if constant is not None:
            return {"constant": constant.findtext("constant-value") or ""}
        dn_part = element.find("dn-part-mapping")
        if dn_part is not None:
            return {"dnPart": int(dn_part.findtext("dn-part") or "1")}
        scripted = element.find("scripted-mapping")
        if scripted is not None:
            sources = [s.text for s in scripted.findall("src-attribute")]
            if any(s.get("intrinsic") == "true" for s in scripted.findall("src-attribute")) or not sources:
                raise Unmodeled("a scripted mapping with intrinsic or no source attributes is not modelled yet")
            children = [c.tag for c in scripted]
            context_first = children[0] == "script-context"
            if context_first != join:
                raise Unmodeled("a scripted mapping with its children in an unusual order")
            return {"script": {"context": scripted.findtext("script-context") or "", "sources": sources}}
        raise Unmodeled(f"a mapping of kind '{element[0].tag if len(element) else 'none'}' (declarative sync-rule mappings are not modelled)")

    # ------------------------------------------------------------------ sections

    def identity(self) -> None:
        ma = self.ma
        self.spec["apiVersion"] = "maforge/v1"
        self.spec["kind"] = "Connector"
        self.spec["name"] = _text(ma, "name").strip() or "Imported MA"
        description = _text(ma, "description")
        if description:
            self.spec["description"] = description
        self.spec["type"] = "powershell" if self.powershell or self.psma else "other"
        if self.psma:
            self.spec["connector"] = "psma"
        mim: dict[str, Any] = {}
        if re.fullmatch(r"\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}", self.ma_id):
            mim["id"] = self.ma_id
        server = self.root.get("server")
        if server:
            mim["server"] = server
        version = _text(ma, "private-configuration/MAConfig/extension-config/assembly-version")
        if re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+", version):
            if self.psma:
                self.spec["psma"] = {"version": version}
            else:
                mim["connectorVersion"] = version
        protection = _text(ma, "controller-configuration/application-protection")
        if protection in ("low", "high") and protection != "low":
            mim["applicationProtection"] = protection
        assembly = _text(ma, "extension/assembly-name")
        if assembly:
            extension: dict[str, Any] = {"assembly": assembly}
            ext_protection = _text(ma, "extension/application-protection")
            if ext_protection == "high":
                extension["applicationProtection"] = "high"
            mim["rulesExtension"] = extension
        created = _text(ma, "creation-time")
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}", created):
            mim["timestamp"] = created
        self.spec["mim"] = mim

    def schema(self) -> None:
        directory = self.ma.find(f"schema/{_dsml('dsml')}/{_dsml('directory-schema')}")
        if directory is None:
            raise Unmodeled("no DSML schema in the ECMA2 form")
        definitions: dict[str, etree._Element] = {}
        for definition in directory.findall(_dsml("attribute-type")):
            definitions[definition.get("id", "")] = definition
        object_types: dict[str, Any] = {}
        for klass in directory.findall(_dsml("class")):
            name = klass.findtext(_dsml("name")) or klass.get("id", "")
            anchors: list[str] = []
            attributes: dict[str, Any] = {}
            for ref in klass.findall(_dsml("attribute")):
                ref_id = (ref.get("ref") or "").lstrip("#")
                definition = definitions.get(ref_id)
                if definition is None:
                    raise Unmodeled(f"attribute reference #{ref_id} has no definition")
                attr_name = definition.findtext(_dsml("name")) or ref_id
                if attr_name == EXPORT_PASSWORD:
                    continue
                syntax = definition.findtext(_dsml("syntax")) or ""
                if syntax not in _OID_TYPES:
                    raise Unmodeled(f"attribute '{attr_name}' has syntax {syntax}, which ECMA2 schemas do not use")
                entry: dict[str, Any] = {}
                if _OID_TYPES[syntax] != AttributeType.STRING.value:
                    entry["type"] = _OID_TYPES[syntax]
                if definition.get("single-value") == "false":
                    entry["multiValued"] = True
                access = ref.get(_ms("allowedOperation"))
                if access:
                    entry["access"] = access
                immutable = definition.get(_ms("immutable")) == "true"
                if immutable != (access == "ImportOnly"):
                    entry["immutable"] = immutable
                attributes[attr_name] = entry or None
                if ref.get(_ms("isAnchor")) == "true":
                    anchors.append(attr_name)
            if not anchors:
                raise Unmodeled(f"object type '{name}' has no anchor in its schema")
            # The export lists anchors last; the spec keeps the connector's attribute order.
            object_types[name] = {"anchor": anchors[0] if len(anchors) == 1 else anchors, "attributes": attributes}
        if not object_types:
            raise Unmodeled("the schema has no object types")
        included = {a.text for a in self.ma.iterfind("attribute-inclusion/attribute")}
        for object_type in object_types.values():
            for attr_name, entry in object_type["attributes"].items():
                if included and attr_name not in included:
                    entry = dict(entry or {})
                    entry["selected"] = False
                    object_type["attributes"][attr_name] = entry
        self.cs_types = object_types
        self.spec["schema"] = {"objectTypes": object_types}

    def parameter_values(self) -> dict[str, etree._Element]:
        return {p.get("name", ""): p for p in self.ma.iterfind("private-configuration/MAConfig/parameter-values/parameter")}

    def connector_pages(self) -> None:
        """Connectivity, capabilities, additional parameters and scripts of the PowerShell connector."""
        values = self.parameter_values()

        def value(name: str) -> str:
            element = values.get(name)
            return (element.text or "") if element is not None else ""

        connectivity: dict[str, Any] = {}
        for name, field_name in (("Server", "server"), ("Domain", "domain"), ("User", "user")):
            if value(name):
                connectivity[field_name] = value(name)
        for name, field_name in (
            ("Impersonate Connector Account", "impersonate"),
            ("Load User Profile When Impersonating", "loadUserProfile"),
            ("Signed Scripts Only", "signedScriptsOnly"),
        ):
            if value(name).strip() == "1":
                connectivity[field_name] = True
        logon = value("Logon Type When Impersonating").strip()
        if logon and logon != "None":
            connectivity["logonType"] = logon
        module = value("Common Module Script Name (with extension)").strip()
        if module:
            connectivity["commonModule"] = module
        if connectivity:
            self.spec["connectivity"] = connectivity
        capabilities: dict[str, Any] = {}
        for name, field_name in psconnector.CAPABILITY_PARAMETERS:
            raw = value(name).strip()
            if name in values:
                capabilities[field_name] = raw if field_name in ("distinguishedNameStyle", "exportType", "dataNormalization", "objectConfirmation") else raw == "1"
        self.spec["capabilities"] = capabilities
        plain = [n.strip() for n in value("Additional Config Parameter Names").split(",") if n.strip()]
        secret = [n.strip() for n in value("Additional Encrypted Config Parameter Names").split(",") if n.strip()]
        parameters: dict[str, Any] = {}
        for name in plain + secret:
            entry: dict[str, Any] = {}
            if name in secret:
                entry["encrypted"] = True
            else:
                global_value = value(psconnector.scoped_name(name, "global"))
                if global_value:
                    entry["value"] = global_value
            parameters[name] = entry or None
        if parameters:
            self.spec["parameters"] = parameters
        scripts: dict[str, str] = {}
        for slot, parameter in psconnector.SCRIPT_PARAMETERS.items():
            text = value(parameter)
            if text.strip():
                file_name = (module or "common.psm1") if slot == "commonModule" else SCRIPT_FILES[slot]
                scripts[slot] = f"scripts/{file_name}"
                self.scripts[f"scripts/{file_name}"] = text
        if scripts:
            self.spec["scripts"] = scripts
        else:
            raise Unmodeled("the MA holds no scripts")

    def psma_pages(self) -> None:
        """PSMA's parameters: credentials, script paths, switches and configuration lines.
        Its capabilities are its DLL's (the spec does not state them)."""
        values = self.parameter_values()

        def value(name: str) -> str:
            element = values.get(name)
            return (element.text or "") if element is not None else ""

        settings: dict[str, Any] = self.spec.setdefault("psma", {})
        paths = {slot: value(name).strip() for slot, name in psma.SCRIPT_PARAMETERS.items() if value(name).strip()}
        for slot, path in paths.items():
            if not _SERVER_SCRIPT_PATH.fullmatch(path):
                raise Unmodeled(f"the {psma.SCRIPT_PARAMETERS[slot]} path '{path}' is not an absolute Windows path of a .ps1 file")
        if paths:
            settings["paths"] = paths
        engine = value(psma.POWERSHELL_VERSION).strip()
        if engine == psma.POWERSHELL_VERSIONS[1]:
            settings["powershell"] = "7"
        elif engine not in ("", psma.POWERSHELL_VERSIONS[0]):
            raise Unmodeled(f"PowerShell Version '{engine}' is not one PSMA offers")
        if value(psma.PWSH_PATH).strip():
            settings["pwshPath"] = value(psma.PWSH_PATH).strip()
        if value(psma.PAGED_IMPORT).strip() != "1":
            settings["pagedImport"] = False
        if _text(self.ma, "private-configuration/MAConfig/password-extension-config/password-extension-enabled") == "1":
            settings["passwordManagement"] = True
        if value(psma.EXPORT_SIMPLE).strip() != "1":
            settings["exportSimpleObjects"] = False
        # An export never holds a secret: a password shows only as an empty encrypted value,
        # which the build writes back wherever its user name is set (psmapages.py).
        if value(psma.AUX_USERNAME).strip():
            settings["auxiliary"] = {"user": value(psma.AUX_USERNAME).strip()}
        if value(psma.IMPERSONATE_USERNAME).strip():
            impersonate: dict[str, Any] = {"user": value(psma.IMPERSONATE_USERNAME).strip()}
            if value(psma.IMPERSONATE_DOMAIN).strip():
                impersonate["domain"] = value(psma.IMPERSONATE_DOMAIN).strip()
            settings["impersonate"] = impersonate
        if value(psma.USERNAME).strip():
            self.spec["connectivity"] = {"user": value(psma.USERNAME).strip()}
        parameters: dict[str, Any] = {}
        for line in psma.parse_configuration(value(psma.CONFIGURATION)):
            if not line.name or line.name in parameters:
                raise Unmodeled(f"the Configuration parameters line '{line.name}' is empty or repeated")
            parameters[line.name] = {"value": line.value} if line.value else None
        if parameters:
            self.spec["parameters"] = parameters

    def capabilities_from_bits(self) -> None:
        """For other ECMA2 connectors, the capabilities their code declares, read back from the bits."""
        bits_text = _text(self.ma, "private-configuration/MAConfig/extension-config/capability-bits")
        if not bits_text.isdigit():
            return
        bits = int(bits_text)
        dn_style = next((k for k, v in sorted(DN_STYLE_BITS.items(), key=lambda kv: -kv[1]) if v and bits & v == v), "None")
        normalization = next((k for k, v in sorted(NORMALIZATION_BITS.items(), key=lambda kv: -kv[1]) if v and bits & v == v), "None")
        export_type = {v: k for k, v in EXPORT_TYPES.items()}.get(int(_text(self.ma, "export-type", "1") or 1), "AttributeUpdate")
        self.spec["capabilities"] = {
            "distinguishedNameStyle": dn_style,
            "exportType": export_type,
            "dataNormalization": normalization,
            "objectConfirmation": "NoAddAndDeleteConfirmation" if bits & 0x24000000 == 0x24000000 else "Normal",
            "dnAsAnchor": bool(bits & 0x40000000),
            "concurrentOperations": bool(bits & 0x8000),
            "partitions": not bits & 0x01000000,
            "hierarchy": not bits & 0x8,
            "import": not bits & 0x4,
            "deltaImport": bool(bits & 0x1000),
            "export": not bits & 0x80,
            "fullExport": bool(bits & 0x02000000),
            "noReferenceValuesInFirstExportPass": bool(bits & 0x400),
            "objectRename": bool(bits & 0x200),
            "deleteAddAsReplace": bool(bits & 0x10000),
            "passwordOperations": bool(bits & 0x800),
            "exportPasswordInFirstPass": bool(bits & 0x10000000),
        }

    def partitions(self) -> None:
        partitions: dict[str, Any] = {}
        taken: set[str] = set()
        all_types = list(self.cs_types)
        for partition in self.ma.iterfind("ma-partition-data/partition"):
            name = _text(partition, "name")
            if not name:
                raise Unmodeled("a partition without a name")
            key = _key(name if name == "default" else name.split(",")[0].split("=")[-1] or name, taken)
            self.partition_keys[_text(partition, "id")] = key
            entry: dict[str, Any] = {}
            if name != key:
                entry["name"] = name
            dn = _text(partition, "custom-data/ecma-partition-data/dn", name)
            if dn and dn != name:
                entry["dn"] = dn
            if _text(partition, "selected", "1") == "0":
                entry["selected"] = False
            types = [c.text for c in partition.iterfind("filter/object-classes/object-class")]
            if types != all_types:
                entry["objectTypes"] = types
            include = [c.text for c in partition.iterfind("filter/containers/inclusions/inclusion") if c.text]
            exclude = [c.text for c in partition.iterfind("filter/containers/exclusions/exclusion") if c.text]
            if include or exclude:
                entry["containers"] = {k: v for k, v in (("include", include), ("exclude", exclude)) if v}
            partitions[key] = entry or None
            pid = _text(partition, "id")
            if pid:
                self.ids[f"partition/{key}"] = pid
        if partitions and list(partitions) != ["default"] or any(partitions.values()):
            self.spec["partitions"] = partitions

    def run_profiles(self) -> None:
        profiles: dict[str, Any] = {}
        suffix = "_RunStep"
        for profile in self.ma.iterfind("ma-run-data/run-configuration"):
            name = _text(profile, "name")
            steps = []
            for step in profile.iterfind("configuration/step"):
                step_type = step.find("step-type")
                kind = step_type.get("type") if step_type is not None else ""
                subtype = step_type[0].text if step_type is not None and len(step_type) else None
                matches = []
                for key, (t, _, sub) in STEP_TYPES.items():
                    if t == kind and sub == subtype:
                        matches.append(key)
                if len(matches) != 1:
                    raise Unmodeled(f"run profile '{name}' has a step of type '{kind}' that maforge does not model")
                step_kind: StepType = matches[0]
                entry: dict[str, Any] = {"type": step_kind.value}
                partition_key = self.partition_keys.get(_text(step, "partition"))
                if partition_key is None:
                    raise Unmodeled(f"run profile '{name}' runs against a partition the MA does not have")
                if len(self.partition_keys) > 1:
                    entry["partition"] = partition_key
                data = step.find("custom-data/extensible2-step-data")
                moves_data = not step_kind.syncs_only
                page_size = data.findtext("batch-size") if data is not None else None
                if moves_data and page_size and page_size.isdigit():
                    entry["pageSize"] = int(page_size)
                timeout = data.findtext("timeout") if data is not None else None
                if timeout and timeout != "0":
                    entry["timeout"] = int(timeout)
                thresholds: dict[str, int] = {}
                for tag, field_name in (("object", "objects"), ("delete", "deletions")):
                    text = step.findtext(f"threshold/{tag}")
                    if text:
                        thresholds[field_name] = int(text)
                batch = step.findtext("threshold/batch-size")
                expected = (page_size or "9999") if moves_data else "1"
                if batch is not None and batch != expected:
                    thresholds["batchSize"] = int(batch)
                if thresholds:
                    entry["thresholds"] = thresholds
                values = {}
                for parameter in step.iterfind("custom-data/parameter-values/parameter"):
                    parameter_name = parameter.get("name", "")
                    if parameter.text and parameter_name.endswith(suffix) and parameter.get("encrypted") != "1":
                        values[parameter_name[: -len(suffix)]] = parameter.text
                if values:
                    entry["parameters"] = values
                steps.append(entry)
            if not steps:
                raise Unmodeled(f"run profile '{name}' has no steps")
            profiles[name] = steps
            pid = _text(profile, "id")
            if pid:
                self.ids[f"run-profile/{name}"] = pid
        if profiles:
            self.spec["runProfiles"] = profiles

    def connector_filter(self) -> None:
        entries = []
        for filter_set in self.ma.iterfind("stay-disconnector/filter-set"):
            cs_type = filter_set.get("cd-object-type", "")
            import_filter = filter_set.get("import-filter") == "1"
            if filter_set.get("type") == "scripted":
                entry: dict[str, Any] = {"objectType": cs_type, "scripted": True}
                if import_filter:
                    entry["importFilter"] = True
                entries.append(entry)
                continue
            if filter_set.get("type") != "declared":
                raise Unmodeled(f"a connector filter of type '{filter_set.get('type')}'")
            for index, alternative in enumerate(filter_set.iterfind("filter-alternative")):
                conditions = []
                for condition in alternative.iterfind("condition"):
                    if condition.get("intrinsic-attribute") == "true":
                        raise Unmodeled("a filter condition on an intrinsic attribute")
                    item: dict[str, Any] = {"attribute": condition.get("cd-attribute"), "operator": condition.get("operator")}
                    value = condition.findtext("value")
                    if value:
                        item["value"] = value
                    conditions.append(item)
                entry = {"objectType": cs_type, "when": conditions}
                if import_filter:
                    entry["importFilter"] = True
                entries.append(entry)
                if alternative.get("id"):
                    self.ids[f"filter/{cs_type}/{index + 1}"] = alternative.get("id")
        if entries:
            self.spec["connectorFilter"] = entries

    def join(self) -> None:
        rules = []
        for profile in self.ma.iterfind("join/join-profile"):
            cs_type = profile.get("cd-object-type", "")
            for index, criterion in enumerate(profile.iterfind("join-criterion")):
                if criterion.get("join-cri-type") not in (None, "none"):
                    raise Unmodeled("a join criterion created by a declarative sync rule")
                search = criterion.find("search")
                rule: dict[str, Any] = {"objectType": cs_type}
                if search is not None and search.get("mv-object-type"):
                    rule["mvObjectType"] = search.get("mv-object-type")
                criteria = []
                for mapping in search.iterfind("attribute-mapping") if search is not None else []:
                    if mapping.get("intrinsic-attribute") == "true":
                        raise Unmodeled("a join on the intrinsic metaverse object-id")
                    item = {"mv": mapping.get("mv-attribute"), **self.mapping(mapping, join=True)}
                    criteria.append(item)
                    like = self.cs_attribute(cs_type, item.get("from", "")) if "from" in item else None
                    self.mv_attribute(rule.get("mvObjectType") or self._default_mv_type(), item["mv"], like)
                rule["criteria"] = criteria
                resolution = criterion.find("resolution")
                if resolution is not None and resolution.get("type") == "scripted":
                    rule["resolution"] = {"script": resolution.findtext("script-context") or ""}
                rules.append(rule)
                if criterion.get("id"):
                    self.ids[f"join/{cs_type}/{index + 1}"] = criterion.get("id")
        if rules:
            self.spec["join"] = rules

    def _default_mv_type(self) -> str:
        return next(iter(self.mv_types), "person")

    def projection(self) -> None:
        rules = []
        for mapping in self.ma.iterfind("projection/class-mapping"):
            cs_type = mapping.get("cd-object-type", "")
            kind = mapping.get("type")
            if kind == "declared":
                mv_type = mapping.findtext("mv-object-type") or ""
                rules.append({"objectType": cs_type, "mvObjectType": mv_type})
                self.mv_types.setdefault(mv_type, {})
            elif kind == "scripted":
                rules.append({"objectType": cs_type, "scripted": True})
            else:
                raise Unmodeled(f"a projection of type '{kind}'")
            if mapping.get("id"):
                self.ids[f"projection/{cs_type}"] = mapping.get("id")
        if rules:
            self.spec["projection"] = rules

    def deprovisioning(self) -> None:
        cleanup = self.ma.find("provisioning-cleanup")
        result: dict[str, Any] = {}
        if cleanup is not None:
            if cleanup.get("type") == "scripted":
                result["action"] = "scripted"
            else:
                action = cleanup.findtext("action") or "make-normal-disconnector"
                if action != "make-normal-disconnector":
                    result["action"] = action
        if self.mv_flows is not None:
            recall = self.mv_flows.findtext(f"per-ma-options/ma-options[@ma-id='{self.ma_id}']/enable-recall")
            if recall == "false":
                result["recallAttributes"] = False
        if result:
            self.spec["deprovisioning"] = result

    def export_flows(self) -> None:
        sets = []
        for flow_set in self.ma.iterfind("export-attribute-flow/export-flow-set"):
            cs_type, mv_type = flow_set.get("cd-object-type", ""), flow_set.get("mv-object-type", "")
            attributes: dict[str, Any] = {}
            for flow in flow_set.iterfind("export-flow"):
                target = flow.get("cd-attribute", "")
                suppress = flow.get("suppress-deletions")
                if suppress is None:
                    raise Unmodeled("an export flow created by a declarative sync rule")
                mapping = self.mapping(flow)
                if suppress == "false":
                    mapping["whenNull"] = "clear"
                attributes[target] = mapping
                like = self.cs_attribute(cs_type, target)
                for source in mapping.get("script", {}).get("sources", []) or ([mapping["from"]] if "from" in mapping else []):
                    self.mv_attribute(mv_type, source, like if "from" in mapping else None)
                if flow.get("id"):
                    self.ids[f"export-flow/{cs_type}/{mv_type}/{target}"] = flow.get("id")
            self.mv_types.setdefault(mv_type, {})
            sets.append({"objectType": cs_type, "mvObjectType": mv_type, "attributes": attributes})
        if sets:
            self.spec["exportFlows"] = sets

    def import_flows(self) -> None:
        if self.mv_flows is None:
            return
        sets: dict[tuple[str, str], dict[str, Any]] = {}
        for flow_set in self.mv_flows.iterfind("import-flow-set"):
            mv_type = flow_set.get("mv-object-type", "")
            for group in flow_set.iterfind("import-flows"):
                target = group.get("mv-attribute", "")
                precedence = group.get("type", "ranked")
                for flow in group.iterfind("import-flow"):
                    cs_type = flow.get("cd-object-type", "")
                    mapping = self.mapping(flow)
                    key = (cs_type, mv_type)
                    bucket = sets.setdefault(key, {"objectType": cs_type, "mvObjectType": mv_type, "attributes": {}})
                    if target in bucket["attributes"]:
                        raise Unmodeled(f"two import flows from '{cs_type}' into '{target}'")
                    bucket["attributes"][target] = mapping
                    like = self.cs_attribute(cs_type, mapping["from"]) if "from" in mapping else None
                    self.mv_attribute(mv_type, target, like)
                    if precedence != "ranked":
                        entry = dict(self.mv_types[mv_type][target] or {})
                        entry["precedence"] = precedence
                        self.mv_types[mv_type][target] = entry
                    if flow.get("id"):
                        self.ids[f"import-flow/{cs_type}/{mv_type}/{target}"] = flow.get("id")
        if sets:
            self.spec["importFlows"] = list(sets.values())

    def hierarchy(self) -> None:
        mappings = {m.findtext("dn_component"): m.findtext("object_class") for m in self.ma.iterfind("component_mappings/mapping")}
        if mappings:
            self.spec["provisioningHierarchy"] = mappings

    def metaverse(self) -> None:
        types = {name: {"attributes": attrs} for name, attrs in self.mv_types.items() if name}
        if types:
            self.spec["metaverse"] = {"objectTypes": types}
            self.notes.append("metaverse: object types and attributes inferred from the rules (an MA export holds no metaverse schema)")

    def run(self) -> None:
        self.identity()
        self.section("schema", self.schema)
        if self.powershell:
            self.section("connector pages", self.connector_pages)
        elif self.psma:
            self.section("PSMA pages", self.psma_pages)
        elif self.ma.findtext("category") == psconnector.CATEGORY:
            self.section("capabilities", self.capabilities_from_bits)
        self.section("partitions", self.partitions)
        self.section("run profiles", self.run_profiles)
        self.section("connector filter", self.connector_filter)
        self.section("join", self.join)
        self.section("projection", self.projection)
        self.section("deprovisioning", self.deprovisioning)
        self.section("export flows", self.export_flows)
        self.section("import flows", self.import_flows)
        self.hierarchy()
        self.metaverse()
        if self.ids:
            self.spec["mim"]["ids"] = dict(sorted(self.ids.items()))


def read_ma_file(data: bytes, display: str) -> tuple[etree._Element, etree._Element]:
    """Parse an MA file safely and return (root, ma-data)."""
    try:
        root = parse_untrusted(data, display)
    except UnsafeOrBrokenXml as error:
        raise ImportError_(error.message) from None
    if root.tag not in MA_ROOTS:
        raise ImportError_(
            f"{display}: the root element is <{root.tag}>; an MA file starts with <export-ma> (Export Management Agent) "
            "or <saved-ma-configuration> (server configuration export)"
        )
    ma = root if root.tag == "ma-data" else root.find("ma-data")
    if ma is None:
        raise ImportError_(f"{display}: <{root.tag}> holds no <ma-data>")
    if not ma.findtext("id") or not ma.findtext("name"):
        raise ImportError_(f"{display}: <ma-data> has no <id> or <name>; is it a packaged MA template?")
    return root, ma


def mv_flows_of(root: etree._Element, mv_root: etree._Element | None) -> etree._Element | None:
    """The import-attribute-flow to read this MA's import flows from: the export's own
    `mv-data`, or the server configuration's MV.xml."""
    if mv_root is not None:
        return mv_root.find("mv-data/import-attribute-flow") if mv_root.tag != "mv-data" else mv_root.find("import-attribute-flow")
    return root.find("mv-data/import-attribute-flow")


def decompile_model(root: etree._Element, ma: etree._Element, mv_root: etree._Element | None = None) -> Decompiled:
    """Model what the spec language can say; the round trip decides what is carried."""
    flows = own_import_flows(mv_flows_of(root, mv_root), ma.findtext("id") or "")
    worker = _Decompiler(ma, root, flows)
    worker.run()
    return Decompiled(worker.spec, worker.scripts, [], worker.notes, ma, flows)


def section_facts(element: etree._Element | None) -> list[str]:
    return [] if element is None else list(facts(canonicalize(element)))


