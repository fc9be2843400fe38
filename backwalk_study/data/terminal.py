"""Text for a terminal: values from the user's files are shown, never
obeyed (no escape sequences, no bidirectional overrides)."""

from __future__ import annotations

__all__ = ["printable"]


def printable(text) -> str:
    """``text`` safe to print on a terminal: control and format characters
    are shown as Python escapes; letters of any script are kept.

    Examples
    --------
    >>> from backwalk_study.data.terminal import printable
    >>> printable("Müller\\x1b[31m")
    'Müller\\\\x1b[31m'
    """
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
