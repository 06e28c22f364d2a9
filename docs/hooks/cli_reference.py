"""MkDocs hook: the command line reference page, generated from ``kerascnn.cli``'s argparse parsers at build time.

Every ``kerascnn`` command (and sub-command, such as ``data prepare``) gets its usage line, its description,
a table of its options with their defaults and its examples, exactly as ``--help`` has them: the page cannot
drift from the parsers.
"""

from __future__ import annotations

import argparse
import html

from mkdocs.structure.files import File

PAGE = "reference/cli.md"


def on_files(files, config):
    files.append(File.generated(config, PAGE, content=render()))
    return files


def render() -> str:
    from kerascnn.cli.main import build_parser

    parser = build_parser()
    parts = [
        "# Command line",
        "",
        "Every command of `kerascnn`, generated from the command line parser (what `kerascnn COMMAND --help`"
        " prints). Set `KERASCNN_DEBUG=1` to see a traceback instead of a one-line error.",
        "",
        _code(parser.format_usage().strip()),
        "",
    ]
    for name, sub in _subcommands(parser):
        parts += _command(f"kerascnn {name}", sub)
    return "\n".join(parts) + "\n"


def _subcommands(parser: argparse.ArgumentParser):
    """(name, parser) of each sub-command, in the order ``--help`` lists them, nested ones as ``data prepare``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for nested, subsub in _subcommands(sub):
                    yield f"{name} {nested}", subsub


def _command(title: str, parser: argparse.ArgumentParser) -> list[str]:
    lines = [f"## `{title}`", "", _code(_usage(parser)), ""]
    if parser.description:
        lines += [_text(parser.description), ""]
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            names = ", ".join(action.option_strings)
            if action.nargs != 0:
                names += " " + formatter._format_args(action, formatter._get_default_metavar_for_optional(action))
        else:
            names = formatter._format_args(action, formatter._get_default_metavar_for_positional(action))
        help_text = formatter._expand_help(action) if action.help else ""
        rows.append(f"| `{names}` | {_cell(help_text)} |")
    if rows:
        lines += ["| argument | what it does |", "|---|---|", *rows, ""]
    if parser.epilog:
        lines += [_code(parser.epilog.strip()), ""]
    return lines


def _usage(parser: argparse.ArgumentParser) -> str:
    """The usage line without its ``usage:`` prefix, continuation lines moved left as far."""
    first, *rest = parser.format_usage().strip().splitlines()
    prefix = len("usage: ")
    return "\n".join([first[prefix:], *(line[prefix:] if line[:prefix].isspace() else line for line in rest)])


def _code(text: str) -> str:
    return f"```text\n{text}\n```"


def _text(text: str) -> str:
    """Prose from a parser: kept as written, with HTML characters escaped."""
    return html.escape(" ".join(text.split()) if "\n\n" not in text else text.strip(), quote=False)


def _cell(text: str) -> str:
    return html.escape(" ".join(text.split()), quote=False).replace("|", "\\|").replace("*", "\\*")
