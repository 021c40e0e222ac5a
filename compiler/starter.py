"""``maforge init``: write a commented starter spec (and, for ``powershell``, starter
scripts) that validates as written. Templates live in templates/init/."""

from __future__ import annotations

import re
from pathlib import Path

from maforge.atomic import write_text_atomic
from maforge.templates import environment


class StarterExists(Exception):
    """A file the starter would write already exists and --force was not given."""


_SCRIPTS = {
    "common.psm1.j2": None,  # named after the module
    "schema.ps1.j2": "schema.ps1",
    "import.ps1.j2": "import.ps1",
    "export.ps1.j2": "export.ps1",
}


def _name_from(path: Path) -> str:
    words = re.split(r"[-_. ]+", path.stem)
    return " ".join(w[:1].upper() + w[1:] for w in words if w) or "My Connector"


def write_starter(path: Path, kind: str, *, name: str | None = None, tenant: str = "contoso", force: bool = False) -> list[Path]:
    """Write the starter files and return their paths. Nothing is written if any of
    them exists (unless ``force``), so a refused init leaves the folder as it was."""
    if kind not in ("spo-user-profiles", "powershell"):
        raise ValueError(f"unknown connector type '{kind}' (spo-user-profiles or powershell)")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", tenant):
        raise ValueError(f"'{tenant}' is not a tenant name: use the part before .sharepoint.com, in lower case")
    title = name if name is not None else _name_from(path)
    if not title.strip() or title != title.strip() or any(c in title for c in "\r\n"):
        raise ValueError(f"{title!r} is not an MA name: give a name without leading or trailing spaces")
    module = re.sub(r"[^A-Za-z0-9]+", "", title) + ".psm1"
    context = {"name": title, "filename": path.name, "tenant": tenant, "company": "Contoso", "module": module}
    env = environment()
    files: dict[Path, str] = {path: env.get_template(f"init/{kind}.yaml.j2").render(context)}
    if kind == "powershell":
        scripts = path.parent / "scripts"
        for template, target in _SCRIPTS.items():
            files[scripts / (target or module)] = env.get_template(f"init/powershell/{template}").render(context)
    existing = [p for p in files if p.exists()]
    if existing and not force:
        listed = ", ".join(str(p) for p in existing)
        raise StarterExists(f"{listed} already exist{'s' if len(existing) == 1 else ''}: choose another path or add --force to overwrite")
    for target, text in files.items():
        write_text_atomic(target, text)
    return list(files)
