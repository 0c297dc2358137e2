"""The README and docs say what the code does: settings, roles and speed come from their sources."""

import json
import re
from pathlib import Path

from benchmarks import headlines
from oceanwatch import config_table
from oceanwatch.access.accounts import ROLES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _table_rows(text: str, header: str) -> list[list[str]]:
    """The cells of the Markdown table that starts with `header`."""
    lines = text[text.index(header) :].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))])
    return rows


def test_the_configuration_reference_is_the_one_settings_generates() -> None:
    documented = config_table.generated_block(config_table.DOC.read_text())
    assert documented == config_table.render(), "run `python -m oceanwatch.config_table` after changing Settings"
    for variable in config_table.Settings().to_env():
        assert f"| `{variable}` |" in documented


def test_the_generated_tables_are_tables_readers_see_whole() -> None:
    """Every row has three cells (a `|` in a description must not split it); each group's table has no gaps."""
    rendered = config_table.render()
    tables = rendered.split("| Variable | Default | Meaning |")[1:]
    rows = [
        row
        for table in tables
        for row in _table_rows("| Variable | Default | Meaning |" + table, "| Variable | Default | Meaning |")
    ]
    assert len(tables) == len(config_table.GROUPS) + 1
    assert len(rows) == len(config_table.Settings().to_env())
    assert all(len(row) == 3 for row in rows)


def test_defaults_are_written_as_they_are_set_in_the_environment() -> None:
    assert config_table.env_value((20, 30, 40)) == "[20, 30, 40]"
    assert config_table.env_value(True) == "true"
    assert config_table.env_value({}) == "{}"


def test_each_role_is_described_once_and_every_role_is_described() -> None:
    web = (ROOT / "docs" / "web.md").read_text()
    roles = [row[0].strip("`") for row in _table_rows(web, "| Role | May |")]
    assert roles == list(ROLES)


def test_the_speed_table_is_the_documented_benchmark_run() -> None:
    report = json.loads(headlines.SAVED.read_text())
    assert headlines.block(README) == headlines.render(report), (
        "publish a run with `python -m benchmarks.headlines bench-results/report.json`"
    )
    assert "did not run" not in headlines.render(report)


def test_every_document_the_readme_links_exists() -> None:
    for target in re.findall(r"\]\(((?:docs/)[^)#]+)\)", README):
        assert (ROOT / target).exists(), target


def test_the_two_commands_are_documented() -> None:
    assert "make demo" in README and "make test" in README
