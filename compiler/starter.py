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


GITIGNORE = ".gitignore"


def _name_from(path: Path) -> str:
    words = re.split(r"[-_. ]+", path.stem)
    return " ".join(w[:1].upper() + w[1:] for w in words if w) or "My Connector"


def company_from(tenant: str) -> str:
    """The User-Agent company a starter spec names: the tenant's own name in title case
    (fabrikam → Fabrikam, contoso-dev → Contoso Dev), so a starter for another tenant does
    not send SharePoint traffic labelled as Contoso's."""
    return " ".join(word[:1].upper() + word[1:] for word in tenant.split("-") if word)


def _ignore_patterns(text: str) -> list[str]:
    """The pattern lines of a .gitignore (comments and blank lines left out)."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def gitignore_text(existing: str | None, wanted: str) -> str | None:
    """What the folder's .gitignore should hold so that maforge's working files (connection
    file, plans, apply journals and results, the state folder) stay out of commits: ``wanted``
    for a new one; for an existing one, its own text with only the missing patterns added
    (a user's rules are never dropped); None when it already ignores them all."""
    if existing is None:
        return wanted
    have = set(_ignore_patterns(existing))
    missing = [pattern for pattern in _ignore_patterns(wanted) if pattern not in have]
    if not missing:
        return None
    lead = existing if not existing or existing.endswith("\n") else existing + "\n"
    return lead + "# Added by `maforge init`: maforge's working files (docs/from-the-wizard.md)\n" + "".join(p + "\n" for p in missing)


def _read_if_there(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def write_starter(
    path: Path, kind: str, *, name: str | None = None, tenant: str = "contoso", company: str | None = None, force: bool = False
) -> list[Path]:
    """Write the starter files and return their paths. Nothing is written if any of
    them exists (unless ``force``), so a refused init leaves the folder as it was. The
    folder's .gitignore is created, or completed, never replaced: it is not the starter's."""
    if kind not in ("spo-user-profiles", "powershell"):
        raise ValueError(f"unknown connector type '{kind}' (spo-user-profiles or powershell)")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", tenant):
        raise ValueError(f"'{tenant}' is not a tenant name: use the part before .sharepoint.com, in lower case")
    title = name if name is not None else _name_from(path)
    if not title.strip() or title != title.strip() or any(c in title for c in "\r\n"):
        raise ValueError(f"{title!r} is not an MA name: give a name without leading or trailing spaces")
    module = re.sub(r"[^A-Za-z0-9]+", "", title) + ".psm1"
    company = company if company is not None else company_from(tenant)
    if not company.strip() or any(c in company for c in "|\r\n"):
        raise ValueError(f"{company!r} is not a company name for the User-Agent: give a name without '|' or line breaks")
    context = {"name": title, "filename": path.name, "tenant": tenant, "company": company, "module": module}
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
    ignore = path.parent / GITIGNORE
    ignore_text = gitignore_text(_read_if_there(ignore), env.get_template("init/gitignore.j2").render(context))
    if ignore_text is not None:
        files[ignore] = ignore_text
    for target, text in files.items():
        write_text_atomic(target, text)
    return list(files)
