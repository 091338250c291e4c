"""check_limits.py - fails when a hard limit is defined outside wr_limits.h.

The rule: a `#define` whose name has MAX or LIMIT as one of its
underscore-separated words (FOO_MAX, FOO_MAX_BYTES, MAX_FOO, FOO_LIMIT,
FOO_LIMIT_MS) is a hard limit, and every hard limit lives in
common/base/wr_limits.h with its reason (docs/architecture.md, "Errors,
limits, logging"). Every *.c and *.h under common/, jobmanager/,
taskmanager/ and cli/ is scanned (tests/ is not); a definition anywhere but
wr_limits.h is reported as file:line and the check fails.

A few names match the rule without being limits: values of the domain, not
bounds on memory, peers or time. They are listed in NOT_LIMITS with the
reason; anything else that matches must move to wr_limits.h.

Usage: check_limits.py SOURCE_DIR (ctest runs it as lint.limits).
"""

import pathlib
import re
import sys

SCANNED = ("common", "jobmanager", "taskmanager", "cli")
LIMITS_FILE = pathlib.PurePosixPath("common/base/wr_limits.h")

NOT_LIMITS = {
    # The largest watermark: end of input, when every window may fire.
    "TM_WM_MAX": "a watermark value",
    # The shape of the orders `weir gen` produces (amount range, delays).
    "CLI_GEN_AMOUNT_MAX": "generated data",
    "CLI_GEN_DELAY_MAX_MS": "generated data",
    "CLI_GEN_LATE_MAX_MS": "generated data",
}

DEFINE = re.compile(r"^\s*#\s*define\s+([A-Za-z_][A-Za-z0-9_]*)")
LIMIT_WORDS = {"MAX", "LIMIT"}


def is_limit_name(name):
    return bool(LIMIT_WORDS & set(name.upper().split("_")))


def scan(root):
    found = []
    for top in SCANNED:
        for path in sorted((root / top).rglob("*")):
            if path.suffix not in (".c", ".h") or not path.is_file():
                continue
            rel = pathlib.PurePosixPath(path.relative_to(root).as_posix())
            if rel == LIMITS_FILE:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for lineno, line in enumerate(text.splitlines(), 1):
                m = DEFINE.match(line)
                if m and is_limit_name(m.group(1)) and \
                        m.group(1) not in NOT_LIMITS:
                    found.append(f"{rel}:{lineno}: {m.group(1)}")
    return found


def main():
    if len(sys.argv) != 2:
        print("usage: check_limits.py SOURCE_DIR", file=sys.stderr)
        return 2
    root = pathlib.Path(sys.argv[1])
    if not (root / LIMITS_FILE).is_file():
        print(f"{root / LIMITS_FILE}: not found", file=sys.stderr)
        return 2
    found = scan(root)
    for f in found:
        print(f"{f}: a limit defined outside {LIMITS_FILE} "
              "(move it there, with its reason)")
    if found:
        return 1
    print(f"no *_MAX/*_LIMIT defined outside {LIMITS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
