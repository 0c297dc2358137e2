"""`python -m oceanwatch.training`: train the baseline on simulator data, test it on a held-out scenario,
write its package, and (optionally) register and deploy it.

`make demo` runs this with `--if-absent --register --deploy` as a one-shot task: the first start
trains (a couple of minutes on two cores), later starts find the model registered and exit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from oceanwatch.audio.features import DEFAULT_SPEC
from oceanwatch.config import get_settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import MLModel
from oceanwatch.geo import Site
from oceanwatch.registry import store
from oceanwatch.runtime.logs import configure_logging
from oceanwatch.sim.scenario import Scenario
from oceanwatch.training.baseline import evaluate, train_baseline, write_package
from oceanwatch.training.simdata import class_examples, merge_sets, scenario_examples
from oceanwatch.truth.shipclasses import DEFAULT_CLASSES

log = logging.getLogger("training")
HELD_OUT_START = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
SCENARIO_STRIDE = 8
"""Scenario windows are taken 3 minutes apart: for the same synthesis cost, four times the hours and so
four times the vessels of consecutive windows (12 hours at one hydrophone hold only two or three close passes)."""


def _registered(url: str, name: str) -> bool:
    with session_scope(url) as session:
        return session.scalar(select(MLModel.id).where(MLModel.name == name).limit(1)) is not None


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m oceanwatch.training", description=__doc__)
    parser.add_argument("--name", default="baseline")
    parser.add_argument("--version", default=None, help="default: the UTC time of training")
    parser.add_argument("--per-class", type=int, default=settings.baseline.per_class, help="training windows per class")
    parser.add_argument("--epochs", type=int, default=settings.baseline.epochs)
    parser.add_argument(
        "--eval-hours", type=float, default=settings.baseline.eval_hours, help="length of the held-out scenario"
    )
    parser.add_argument(
        "--scenario-hours",
        type=float,
        default=settings.baseline.scenario_hours,
        help="hours of scenarios with other seeds added to the training set",
    )
    parser.add_argument("--eval-seed", type=int, default=1001, help="seed of the held-out scenario")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="package directory (default DATA_DIR/packages/NAME)")
    parser.add_argument("--register", action="store_true")
    parser.add_argument("--deploy", action="store_true")
    parser.add_argument("--if-absent", action="store_true", help="do nothing if a model of this name is registered")
    args = parser.parse_args(argv)
    configure_logging("training", settings.log_level, settings.log_format)
    url = settings.require_database_url() if (args.register or args.if_absent) else ""
    if args.if_absent and _registered(url, args.name):
        log.info("model %s already registered; nothing to train", args.name)
        return 0

    started = time.perf_counter()
    classes = [c.code for c in DEFAULT_CLASSES]
    spec = DEFAULT_SPEC
    site = Site(settings.hydrophone.id, settings.hydrophone.lat, settings.hydrophone.lon)

    def scenario(seed: int) -> Scenario:
        return Scenario(seed=seed, sites=(site,), vessels_per_hour=settings.simulator.vessels_per_hour)

    # Balanced single-vessel examples teach every class (C and D rarely pass close in the scenario);
    # scenario stretches of other seeds teach what windows really sound like under the truth rule.
    balanced = class_examples(spec, classes, args.per_class, seed=args.seed)
    lived = scenario_examples(
        spec,
        scenario(args.eval_seed + 1),
        site,
        HELD_OUT_START,
        args.scenario_hours,
        classes,
        seed=args.seed + 3,
        stride=SCENARIO_STRIDE,
    )
    train = merge_sets(balanced, lived, seed=args.seed)
    val = class_examples(spec, classes, max(20, args.per_class // 5), seed=args.seed + 1)
    held_out = scenario_examples(
        spec,
        scenario(args.eval_seed),
        site,
        HELD_OUT_START,
        args.eval_hours,
        classes,
        seed=args.seed + 2,
        stride=SCENARIO_STRIDE,
    )
    log.info(
        "data ready: %d train, %d validation, %d held-out windows in %.0f s",
        len(train.y),
        len(val.y),
        len(held_out.y),
        time.perf_counter() - started,
    )
    result = train_baseline(spec, classes, train.x, train.y, val.x, val.y, epochs=args.epochs, seed=args.seed)
    report: dict[str, Any] = {
        "validation": result.report,
        "held_out_scenario": {
            "seed": args.eval_seed,
            "hours": args.eval_hours,
            **evaluate(result.model, classes, held_out.x, held_out.y),
        },
        "train_windows": int(len(train.y)),
        "epochs_run": len(result.history.get("loss", [])),
        "seconds": round(time.perf_counter() - started, 1),
    }
    version = args.version or dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H%M%S")
    out = args.out or settings.data_dir / "packages" / args.name
    write_package(out, result.model, spec, classes, args.name, version, report)
    held = report["held_out_scenario"]
    log.info(
        "trained %s %s in %.0f s: held-out macro-F1 %.3f, accuracy %.3f on %d windows",
        args.name,
        version,
        report["seconds"],
        held["macro_f1"],
        held["accuracy"],
        held["n"],
    )
    print(json.dumps({"package": str(out), "held_out_macro_f1": held["macro_f1"], "seconds": report["seconds"]}))
    if args.register:
        with store.open_package(out) as (keras_path, manifest):
            with session_scope(url) as session:
                model_id = store.register(session, settings.data_dir / "models", keras_path, manifest)
        if args.deploy:
            with session_scope(url) as session:
                store.deploy(session, model_id)
        log.info("registered model %d%s", model_id, " and deployed it" if args.deploy else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
