"""The README's role table says what the code enforces."""
from __future__ import annotations

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
