"""Checks that a wheelhouse holds a wheel of every pin of the given requirement files.

    python3 scripts/check_wheelhouse.py dist/wheelhouse requirements.lock [more.txt ...]

Exit status 0 when every ``name==version`` pin has a wheel (``*.whl``) of that name and
version in the folder, else 1 with one line per missing pin. Run by ``make wheelhouse``
after building it and by ``make setup`` with ``TIANDI_OFFLINE`` before installing, so a
server without internet learns what is missing before pip starts. Standard library only.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)")


def normalise(name: str) -> str:
    """A distribution name as wheel files spell it (PEP 503 normalised, ``_`` for runs)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def pins(requirements: Path) -> list[tuple[str, str]]:
    """The ``(name, version)`` pins of a requirements file, in file order."""
    found = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.strip())
        if match:
            found.append((normalise(match.group(1)), match.group(2)))
    return found


def wheels(folder: Path) -> set[tuple[str, str]]:
    """The ``(name, version)`` of every wheel in ``folder``."""
    have = set()
    for wheel in folder.glob("*.whl"):
        name, version = wheel.name.split("-")[:2]
        have.add((normalise(name), version))
    return have


def missing(folder: Path, requirement_files: list[Path]) -> list[str]:
    """``name==version (file)`` for every pin without its wheel in ``folder``."""
    have = wheels(folder)
    return [
        f"{name}=={version} ({req})"
        for req in requirement_files
        for name, version in pins(req)
        if (name, version) not in have
    ]


def main(argv: list[str]) -> int:
    """Command line: ``FOLDER REQUIREMENTS...``."""
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: check_wheelhouse.py FOLDER REQUIREMENTS...", file=sys.stderr)
        return 2
    folder, files = Path(argv[0]), [Path(a) for a in argv[1:]]
    if not folder.is_dir():
        print(
            f"wheelhouse {folder} does not exist: make it with `make wheelhouse` on a machine "
            "with internet and copy it here",
            file=sys.stderr,
        )
        return 1
    gaps = missing(folder, files)
    if gaps:
        print(
            f"wheelhouse {folder} lacks {len(gaps)} wheel(s): " + ", ".join(gaps) + ". Run "
            "`make wheelhouse` again on a machine with internet (after a change of the lock "
            "files) and copy the folder here",
            file=sys.stderr,
        )
        return 1
    n = sum(len(pins(f)) for f in files)
    print(f"wheelhouse {folder}: a wheel for each of the {n} pins")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
