"""What every service's `signpost` commands share: the sub-command registry type,
checking a data file a partnership owns (policies, calendars, directories), and the
progress a long command shows."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Never, TypeAlias, TypeVar

from tqdm import tqdm

from shared.datafiles import DataFileError

T = TypeVar("T")

# `signpost`'s sub-commands; a service's `cli.register(commands)` adds its own, each
# with `set_defaults(handler=...)`: a function of the parsed arguments returning the
# exit status.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler = Callable[[argparse.Namespace], int]


def read_text(path: Path) -> str | None:
    """The file's text, or None after saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
        return None


def progress(total: int, what: str, unit: str) -> tqdm[Never]:
    """A progress bar on standard error for a command's `total` steps of `what`: done and
    total, rate and time left (tqdm's ETA), drawn in place on a terminal, a line now and
    then when stderr is a log (so a long run still shows it is moving). Standard output
    stays the command's result. Update it with `.update(n)`; close it (`with`) at the end,
    which leaves the final count."""
    terminal = sys.stderr.isatty()
    return tqdm(
        total=total,
        desc=what,
        unit=f" {unit}",
        file=sys.stderr,
        dynamic_ncols=terminal,
        ncols=None if terminal else 80,
        mininterval=0.1 if terminal else 5.0,
        ascii=not terminal,
    )


@dataclass(frozen=True)
class DataFileCheck(Generic[T]):
    """`signpost NAME check FILE` for a data file a partnership owns: 0 and a summary
    when the file is valid, 1 and each reason (on stderr) when it is not, 2 when it
    cannot be read."""

    name: str
    help: str
    check: str
    # `parse(text, source=...)`, raising `error` with each reason in its `problems`.
    parse: Callable[..., T]
    describe: Callable[[T], str]
    error: type[Exception] = DataFileError
    # Prefix each reason with the file's name (when the reasons do not name it).
    located: bool = False

    def register(self, commands: Commands) -> None:
        group = commands.add_parser(self.name, help=self.help)
        sub = group.add_subparsers(dest=f"{self.name}_command", required=True)
        command = sub.add_parser("check", help=self.check)
        command.add_argument("file", type=Path)
        command.set_defaults(handler=self.run)

    def run(self, args: argparse.Namespace) -> int:
        path: Path = args.file
        if (text := read_text(path)) is None:
            return 2
        try:
            loaded = self.parse(text, source=str(path))
        except self.error as exc:
            for reason in getattr(exc, "problems", [exc]):
                print(f"{path}:{reason}" if self.located else str(reason), file=sys.stderr)
            return 1
        print(self.describe(loaded))
        return 0
