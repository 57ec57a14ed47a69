"""Run every fuzz target in tests/fuzz with atheris for a bounded time.

Each target is ``tests/fuzz/fuzz_<name>.py`` defining ``test_one_input(data)``
that may raise only ``testbed.errors.DecodeError``. Short runs are part of
``make test``; ``make fuzz`` runs long. Corpora persist in ``.fuzz-corpus/``.
Prints one line per target and a closing 'N passed, N failed' line.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5, help="time per target")
    ap.add_argument("targets", nargs="*", help="target names (default: all)")
    args = ap.parse_args()
    targets = sorted((ROOT / "tests/fuzz").glob("fuzz_*.py"))
    if args.targets:
        targets = [t for t in targets if t.stem.removeprefix("fuzz_") in args.targets]
    if not targets:
        print("fuzz: no targets found")
        return 1
    passed = failed = 0
    for t in targets:
        corpus = ROOT / ".fuzz-corpus" / t.stem
        corpus.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, str(t), f"-max_total_time={args.seconds}", "-rss_limit_mb=2048",
               f"-artifact_prefix={corpus}/crash-", str(corpus)]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=args.seconds * 4 + 120, check=False)
        stats = [line for line in r.stderr.splitlines() if line.startswith("#") and "DONE" in line]
        if r.returncode == 0:
            passed += 1
            print(f"fuzz {t.stem}: ok {stats[-1] if stats else ''}")
        else:
            failed += 1
            tail = "\n".join(r.stderr.splitlines()[-25:])
            print(f"fuzz {t.stem}: FAILED (exit {r.returncode})\n{tail}")
    print(f"fuzz: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
