"""`make bench`: run every benchmark module in its own process; collect their JSON into
bench-results/report.json and a Markdown summary, bench-results/report.md (see `benchmarks.report`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.report import render_markdown

HERE = Path(__file__).resolve().parent


def main() -> int:
    out_dir = Path("bench-results")
    out_dir.mkdir(exist_ok=True)
    report: dict[str, object] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results": {}}
    failed = 0
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem
        proc = subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], capture_output=True, text=True)
        sys.stderr.write(proc.stderr[-2000:])
        lines = [line for line in proc.stdout.splitlines() if line.strip().startswith("{")]
        if proc.returncode != 0 or not lines:
            failed += 1
            report["results"][name] = {"error": f"exit {proc.returncode}", "stderr": proc.stderr[-2000:]}
        else:
            report["results"][name] = json.loads(lines[-1])
        print(json.dumps({name: report["results"][name]}), flush=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    (out_dir / "report.md").write_text(render_markdown(report))
    print(f"report: {out_dir / 'report.md'}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
