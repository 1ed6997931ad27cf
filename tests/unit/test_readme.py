"""The README's role table says what the code enforces."""
from __future__ import annotations

import re
from pathlib import Path

from promo.domain.access import ALLOWED_ROLES, Permission, Role

README = Path(__file__).resolve().parents[2] / "README.md"


def role_table() -> dict[str, set[str]]:
    lines = README.read_text().splitlines()
    header = next(line for line in lines if line.startswith("| Permission |"))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    table = {}
    for line in lines[lines.index(header) + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        table[cells[0].strip("`")] = {columns[i] for i, cell in enumerate(cells) if cell == "✓"}
    return table


def test_the_readme_role_table_matches_the_permissions_the_code_enforces():
    table = role_table()
    assert set(table) == {p.value for p in Permission}
    for permission in Permission:
        assert table[permission.value] == {role.value for role in ALLOWED_ROLES[permission]}, permission


def test_the_readme_role_table_names_every_role():
    header = next(line for line in README.read_text().splitlines() if line.startswith("| Permission |"))
    assert all(role.value in header for role in Role)


ROOT = README.parent
NOT_OURS = {".venv", ".git", "var", "models", "__pycache__", ".pytest_cache", ".hypothesis", "promo.egg-info"}


def repository_text_files() -> list[Path]:
    found = []
    for path in ROOT.rglob("*"):
        if any(part in NOT_OURS for part in path.relative_to(ROOT).parts) or not path.is_file():
            continue
        if path.suffix in {".md", ".py", ".toml", ".cfg", ".ini", ".txt", ".mako", ".sh"} or path.parent.name == ".ci" \
                or path.name == "Makefile":
            found.append(path)
    return found


def test_no_file_of_the_repository_refers_to_a_place_outside_it():
    outside = "../" + "shared"   # spelled apart, so this file does not name it

    files = repository_text_files()

    assert README in files and ROOT / "docs" / "architecture.md" in files
    assert [str(path.relative_to(ROOT)) for path in files if outside in path.read_text(errors="replace")] == []


def test_every_relative_link_in_the_readme_and_docs_names_a_file_that_exists():
    documents = [README, *sorted((ROOT / "docs").glob("*.md"))]
    links = [(document, target) for document in documents
             for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", document.read_text())
             if "://" not in target]

    assert any(target == "docs/architecture.md" for _, target in links)
    assert [(d.name, t) for d, t in links if not (d.parent / t).exists()] == []
