"""Regenerate the golden Transition Summary files from Debian's crm_simulate.

    .venv/bin/python tests/fidelity/regen.py [CASE ...]

Writes cases/<case>.summary next to every cases/<case>.xml: exactly the lines
crm_simulate 2.1 prints under "Transition Summary:" (possibly none), and cases/<case>.status:
the lines under "Current cluster status:" (before any what-if of the case), and
cases/<case>.revised: "Revised Cluster Status:" after crm_simulate simulated every action.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from crm import cases, crm_run, golden_path, revised_path, status_path


def main(names: list[str]) -> int:
    chosen = [c for c in cases() if not names or c.stem in names]
    for case in chosen:
        status, lines, revised = crm_run(case)
        golden_path(case).write_text("".join(f"{line}\n" for line in lines))
        status_path(case).write_text("".join(f"{line}\n" for line in status))
        revised_path(case).write_text("".join(f"{line}\n" for line in revised))
        print(f"{case.stem}: {len(lines)} line(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
