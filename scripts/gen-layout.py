#!/usr/bin/env python3
"""gen-layout.py - writes the source-layout tables of docs/architecture.md
from the opening comment of every source file.

Every source file (.c, .h, .proto, .py, .sh) under the directories in ROOTS
starts with a comment whose first line reads `name.c - what it holds` (after
a #! line, if any; the line may wrap). The first sentence after the dash is
the file's row in the table of its directory. A file without such a comment
stops the generator, which names it: the table cannot silently lose a file.

    scripts/gen-layout.py           rewrite the tables in docs/architecture.md
    scripts/gen-layout.py --check   exit 1 and print a diff if they are stale

The tables sit between the lines `<!-- layout:begin -->` and
`<!-- layout:end -->`; the text around them is left alone. The ctest test
docs.layout runs --check.
"""
import argparse
import difflib
import os
import re
import sys

# Top-level directories that hold source, in the order of the doc. Their
# subdirectories are found by walking; SUBDIR_ORDER puts known ones in a
# reading order (common/ bottom layer first, as common/CMakeLists.txt lists
# them) and the rest follow alphabetically.
ROOTS = ["proto", "common", "jobmanager", "taskmanager", "cli", "tests",
         "scripts"]
SUBDIR_ORDER = {
    "common": ["base", "metrics", "net", "config", "data", "job", "storage"],
    "tests": ["unit", "integration", "bench", "tools"],
}
EXTENSIONS = (".c", ".h", ".proto", ".py", ".sh")
SKIP_DIRS = ("__pycache__",)
DOC = os.path.join("docs", "architecture.md")
BEGIN = "<!-- layout:begin -->"
END = "<!-- layout:end -->"
MAX_COMMENT_LINES = 200


class LayoutError(Exception):
    pass


def block_comment(lines):
    """The text of a /* ... */ comment starting at lines[0]."""
    out = []
    for i, line in enumerate(lines[:MAX_COMMENT_LINES]):
        if i == 0:
            line = line.split("/*", 1)[1]
        done = "*/" in line
        line = line.split("*/", 1)[0].strip()
        if line.startswith("*"):
            line = line[1:].strip()
        out.append(line)
        if done:
            return out
    return None


def prefixed_comment(lines, prefix):
    """The text of consecutive lines starting with prefix (# or //)."""
    out = []
    for line in lines[:MAX_COMMENT_LINES]:
        s = line.strip()
        if not s.startswith(prefix):
            break
        out.append(s[len(prefix):].strip())
    return out


def docstring(lines):
    """The text of a triple-quoted string starting at lines[0]."""
    quote = lines[0].strip()[:3]
    out = []
    for i, line in enumerate(lines[:MAX_COMMENT_LINES]):
        s = line.strip()
        if i == 0:
            s = s[3:]
        done = quote in s
        out.append(s.split(quote, 1)[0].strip())
        if done:
            return out
    return None


def opening_comment(lines, ext):
    """The opening comment's lines without comment markers, or None. In a
    C file a # line is a directive, not a comment."""
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]
    while lines and not lines[0].strip():
        lines = lines[1:]
    if not lines:
        return None
    first = lines[0].lstrip()
    c_like = ext in (".c", ".h", ".proto")
    if c_like and first.startswith("/*"):
        return block_comment(lines)
    if c_like and first.startswith("//"):
        return prefixed_comment(lines, "//")
    if ext == ".py" and first[:3] in ('"""', "'''"):
        return docstring(lines)
    if not c_like and first.startswith("#"):
        return prefixed_comment(lines, "#")
    return None


def first_sentence(text):
    """text up to the first full stop followed by a space or the end; not
    the stops of `..`, `e.g.` or `i.e.`, nor those inside a name such as
    `ckpt.h`."""
    m = re.search(r"(?<![.])(?<!e\.g)(?<!i\.e)\.(\s|$)", text)
    return text[:m.start()] if m else text


def describe(top, path):
    """The table cell for the file at top/path, or LayoutError saying why
    not."""
    name = os.path.basename(path)
    try:
        with open(os.path.join(top, path), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise LayoutError(f"{path}: cannot read: {e}")
    comment = opening_comment(lines, os.path.splitext(name)[1])
    if not comment:
        raise LayoutError(f"{path}: no opening comment; start the file "
                          f"with a comment `{name} - what it holds`")
    para = []
    for line in comment:
        if not line and para:
            break
        if line:
            para.append(line)
    text = " ".join(para)
    prefix = name + " - "
    if not text.startswith(prefix):
        first = para[0] if para else ""
        raise LayoutError(f"{path}: opening comment starts `{first[:60]}`, "
                          f"not `{prefix}what it holds`")
    what = first_sentence(text[len(prefix):].strip()).strip()
    if not what:
        raise LayoutError(f"{path}: nothing after `{prefix.strip()}`")
    return what.replace("|", "\\|")


def ordered_subdirs(rel, names):
    preferred = SUBDIR_ORDER.get(rel, [])
    known = [n for n in preferred if n in names]
    return known + sorted(n for n in names if n not in preferred)


def walk(top, rel):
    """(directory, [files]) for rel and everything below it, in doc order."""
    path = os.path.join(top, rel)
    entries = sorted(os.listdir(path))
    files = [e for e in entries if e.endswith(EXTENSIONS)
             and os.path.isfile(os.path.join(path, e))]
    dirs = [e for e in entries if os.path.isdir(os.path.join(path, e))
            and not e.startswith(".") and e not in SKIP_DIRS]
    found = [(rel, files)] if files else []
    for d in ordered_subdirs(rel, dirs):
        found += walk(top, rel + "/" + d)
    return found


def tables(top):
    """The generated markdown, or LayoutError listing every bad file."""
    out, errors = [], []
    for root in ROOTS:
        if not os.path.isdir(os.path.join(top, root)):
            continue
        for rel, files in walk(top, root):
            rows = []
            for name in files:
                try:
                    rows.append(f"| `{name}` | "
                                f"{describe(top, rel + '/' + name)} |")
                except LayoutError as e:
                    errors.append(str(e))
            out += [f"### `{rel}/`", "", "| file | what it holds |",
                    "|---|---|"] + rows + [""]
    if errors:
        raise LayoutError("\n".join(errors))
    return "\n".join(out)


def splice(doc, generated):
    """doc with the text between the markers replaced by generated."""
    if doc.count(BEGIN) != 1 or doc.count(END) != 1:
        raise LayoutError(f"{DOC}: needs exactly one `{BEGIN}` and one "
                          f"`{END}` line")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return (head + BEGIN + "\n<!-- generated by scripts/gen-layout.py from "
            "each file's opening comment; do not edit by hand -->\n\n" +
            generated + END + tail)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="exit 1 with a diff if the doc is stale")
    ap.add_argument("--root", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), os.pardir),
        help="the source tree (default: this script's parent directory)")
    args = ap.parse_args()
    top = os.path.normpath(args.root)
    doc_path = os.path.join(top, DOC)
    try:
        with open(doc_path, encoding="utf-8") as f:
            doc = f.read()
        new = splice(doc, tables(top))
    except (LayoutError, OSError) as e:
        for line in str(e).splitlines():
            print(f"gen-layout: {line}", file=sys.stderr)
        return 2
    if args.check:
        if new == doc:
            return 0
        sys.stdout.writelines(difflib.unified_diff(
            doc.splitlines(True), new.splitlines(True),
            DOC + " (committed)", DOC + " (generated)"))
        print(f"gen-layout: {DOC} is stale: run scripts/gen-layout.py",
              file=sys.stderr)
        return 1
    if new != doc:
        with open(doc_path, "w", encoding="utf-8") as f:
            f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
