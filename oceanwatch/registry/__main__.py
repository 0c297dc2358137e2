"""`python -m oceanwatch.registry`: register, list, deploy, deactivate and roll back models from a shell."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import select

from oceanwatch.config import get_settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import MLModel
from oceanwatch.registry import store
from oceanwatch.registry.artifact import ArtifactError
from oceanwatch.registry.manifest import ManifestError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oceanwatch.registry", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    reg = sub.add_parser("register", help="register a package (directory or .zip with model.keras + manifest.json)")
    reg.add_argument("package", type=Path)
    reg.add_argument("--deploy", action="store_true", help="deploy it right away")
    sub.add_parser("list", help="list registered models")
    for verb in ("deploy", "deactivate"):
        sub.add_parser(verb).add_argument("model_id", type=int)
    sub.add_parser("rollback").add_argument("name")
    args = parser.parse_args(argv)
    settings = get_settings()
    url = settings.require_database_url()
    try:
        if args.action == "register":
            with store.open_package(args.package) as (keras_path, manifest):
                with session_scope(url) as session:
                    model_id = store.register(session, settings.data_dir / "models", keras_path, manifest)
            print(f"registered model {model_id}")
            if args.deploy:
                with session_scope(url) as session:
                    store.deploy(session, model_id)
                print(f"deployed model {model_id}")
        elif args.action == "list":
            with session_scope(url) as session:
                for row in session.scalars(select(MLModel).order_by(MLModel.name, MLModel.id)):
                    health = "" if row.healthy else f"  UNHEALTHY: {row.last_error}"
                    print(f"{row.id:>4}  {row.name} {row.version}  {row.task}  {row.status}{health}")
        elif args.action == "deploy":
            with session_scope(url) as session:
                store.deploy(session, args.model_id)
        elif args.action == "deactivate":
            with session_scope(url) as session:
                store.deactivate(session, args.model_id)
        elif args.action == "rollback":
            with session_scope(url) as session:
                print(f"rolled back to model {store.rollback(session, args.name)}")
    except (ArtifactError, ManifestError, store.RegistryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
