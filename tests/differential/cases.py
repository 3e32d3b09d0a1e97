"""Loads the cases (cases/<name>/context/ plus optional args and prepare.sh) and the
machine-read known-differences.md.

args, one directive a line ('#' starts a comment):
  file NAME          Dockerfile inside the context (default Dockerfile)
  target STAGE       --target
  build-arg K=V      --build-arg (repeatable)
  expect ...         a check of Kiln's result against Docker's documented behaviour
                     (see compare.check_expect)

known-differences.md: Markdown tables `| case | field | reason |`. Rows under the heading
"## Known differences" are accepted differences (a row that no longer occurs is "stale" and
fails the run); rows under "## Open Kiln defects" are strict expected failures (XFAIL; a row
whose difference is gone fails as XPASS so that it gets removed)."""

import fnmatch
import os
import re


class CaseError(RuntimeError):
    pass


class Case:
    def __init__(self, name, root):
        self.name = name
        self.root = root
        self.context = os.path.join(root, "context")
        self.dockerfile = None
        self.target = None
        self.build_args = []
        self.expects = []
        self.prepare = os.path.join(root, "prepare.sh")
        if not os.path.isdir(self.context):
            raise CaseError(f"{root}: no context/ folder, expected the build context there")
        args = os.path.join(root, "args")
        if os.path.exists(args):
            self._parse(args)

    def _parse(self, path):
        with open(path) as f:
            for number, raw in enumerate(f, 1):
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                key, _, value = line.partition(" ")
                value = value.strip()
                if key == "file" and value:
                    self.dockerfile = value
                elif key == "target" and value:
                    self.target = value
                elif key == "build-arg" and "=" in value:
                    self.build_args.append(value)
                elif key == "expect" and value:
                    self.expects.append((number, value))
                else:
                    raise CaseError(f"{path}:{number}: bad line '{line}', expected "
                                    "file NAME | target STAGE | build-arg K=V | expect CHECK")


def load_cases(folder, pattern=None):
    names = sorted(n for n in os.listdir(folder) if os.path.isdir(os.path.join(folder, n)))
    if pattern:
        rx = re.compile(pattern)
        names = [n for n in names if rx.search(n)]
    return [Case(n, os.path.join(folder, n)) for n in names]


class Row:
    def __init__(self, case, field, reason, strict, where):
        self.case, self.field, self.reason, self.strict, self.where = (case, field, reason,
                                                                       strict, where)

    def matches(self, case, field):
        return case == self.case and fnmatch.fnmatchcase(field, self.field)


def load_known(path, case_names):
    rows = []
    section = None
    with open(path) as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            if line.startswith("## "):
                section = line[3:].strip().lower()
                continue
            if not line.startswith("|") or section not in ("known differences",
                                                           "open kiln defects"):
                continue
            cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
            if len(cells) != 3 or cells[0].lower() == "case" or set(cells[0]) <= set("-: "):
                continue
            where = f"{path}:{number}"
            case, field, reason = cells
            if case not in case_names:
                raise CaseError(f"{where}: unknown case '{case}', expected a folder of cases/")
            if not reason or not field or field == "*":
                raise CaseError(f"{where}: row needs one narrow field and a reason")
            rows.append(Row(case, field, reason, section == "open kiln defects", where))
    return rows
