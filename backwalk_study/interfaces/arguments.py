"""What every command checks about its arguments: one error type, and where it may write.

Shared by :mod:`~backwalk_study.interfaces.cli` and
:mod:`~backwalk_study.interfaces.dask_client` (which the CLI calls), so
that neither imports the other.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["UsageError", "command_inputs", "check_output"]


class UsageError(Exception):
    """An argument names something that is not there (exit code 2)."""


def command_inputs(args) -> list[Path]:
    """Every file or folder a command reads: never an output."""
    path = Path(args.path)
    inputs = [path]
    if getattr(args, "mapping", None):
        inputs.append(Path(args.mapping))
        if path.is_file():
            inputs.append(path.parent / "sessions.csv")  # the session log a mapping points to sits beside it
    return inputs


def check_output(path, args, kind) -> list[str]:
    """:func:`~backwalk_study.data.output_paths.check_output_path` for a command's
    output, a refusal as a :class:`UsageError`; returns the notes to print."""
    from ..data.output_paths import OutputPathError, check_output_path

    try:
        return check_output_path(path, command_inputs(args), args.force, kind=kind)
    except OutputPathError as exc:
        raise UsageError(str(exc)) from None
