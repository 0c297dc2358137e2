"""`python -m app.users create NAME [--role R] [--password P]`: the users CLI without the flask command."""

from __future__ import annotations

import sys

import click

from app import create_app
from app.users.cli import create_admin_command, create_command


def main(argv: list[str] | None = None) -> int:
    """`python -m app.users create NAME [--role R] [--password P]` with the environment's settings."""
    app = create_app()
    group = click.Group(commands={"create": create_command, "create-admin": create_admin_command})
    with app.app_context():
        try:
            group.main(args=argv, prog_name="python -m app.users", standalone_mode=False)
        except click.ClickException as exc:
            exc.show()
            return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
