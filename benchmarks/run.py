"""Run every benchmark: ``make bench``. Each ``bench_*.py`` here has a ``run()`` that prints
its figures, measured side by side in this one run."""

from __future__ import annotations

import importlib
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(HERE))
    wanted = set(argv)
    print("linkback benchmarks on %s, Python %s, %s" % (platform.machine(), platform.python_version(),
                                                         platform.platform(terse=True)))
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem
        if wanted and name[len("bench_"):] not in wanted:
            continue
        print("\n== %s" % name[len("bench_"):])
        importlib.import_module(name).run()


if __name__ == "__main__":
    main(sys.argv[1:])
