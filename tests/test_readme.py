"""The README's configuration table documents every setting, with its real default."""

from pathlib import Path

from oceanwatch.config import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "(empty)" if default == "" else f"`{default}`"
        row = f"| `{name.upper()}` | {shown} |"
        assert row in README, f"README configuration table lacks or misstates {name.upper()}: {row}"


def test_the_two_commands_are_documented() -> None:
    assert "make demo" in README and "make test" in README
