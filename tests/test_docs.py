"""README.md and the guides in docs/ run as written: every shell and Python snippet, against what it claims.

The snippets run in order in one scratch folder, README first: the Quick start's ``kerascnn fit lenet`` trains
the run that the later snippets export, predict with and serve, so it is trained once. ``kerascnn ...`` lines
run in this process (``kerascnn.cli.main.main``, as the ``kerascnn_main`` fixture does); a block with pipes,
variables or other programs runs in bash with this environment's ``kerascnn`` on PATH; Python blocks run with
``exec``, one namespace per page.

HTML comments right before a fence (invisible on the page) say what a snippet claims or how it runs:

    <!-- snippet: skip REASON -->          not run here (a GPU install, several hosts, a download); REASON is required
    <!-- snippet: expect TEXT -->          its output (stdout and stderr) contains TEXT
    <!-- snippet: exit N -->               it exits with status N (default 0): a documented refusal
    <!-- snippet: check EXPRESSION -->     a Python expression that must be true afterwards; ``metrics(run)`` reads a
                                           run's metrics.json, ``read_json(path)`` any JSON file
    <!-- snippet: background -->          a server: started once, stopped when the module ends
    <!-- snippet: file NAME -->            the block is a file the following snippets read: written as NAME

Servers are started on free ports; the snippets' 8501 (REST) and 8500 (gRPC) are replaced by those.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
RUNNABLE = {"bash": "shell", "sh": "shell", "shell": "shell", "python": "python", "py": "python"}
DIRECTIVE = re.compile(r"^\s*<!--\s*snippet:\s*(?P<body>.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
QUICK_START_LINES = (
    "python3 -m venv .venv && source .venv/bin/activate",
    'pip install -e ".[test]"',
    "kerascnn fit lenet",
    "pytest",
)
FORBIDDEN = {
    "a path of the development machine": re.compile(r"\.\./shared|\.venv/bin/(?!activate$)|/work/|/home/|/tmp/"),
    "an issue number": re.compile(r"issue ?#?\d+|\(#\d+\)", re.IGNORECASE),
    "a placeholder": re.compile(r"\bTODO\b|\bFIXME\b|\bTBD\b"),
}


@dataclass
class Snippet:
    page: Path
    line: int
    lang: str
    code: str
    directives: list = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"

    def get(self, name: str) -> list[str]:
        return [value for key, value in self.directives if key == name]


def pages() -> list[Path]:
    """README first (its Quick start trains the run the rest use), then the docs pages in the site's order."""
    ordered = [REPO / "README.md"]
    nav = (REPO / "mkdocs.yml").read_text() if (REPO / "mkdocs.yml").exists() else ""
    for name in re.findall(r"([\w/.-]+\.md)", nav):
        if (DOCS / name).exists() and DOCS / name not in ordered:
            ordered.append(DOCS / name)
    ordered += sorted(p for p in DOCS.rglob("*.md") if p not in ordered)
    return ordered


def parse(page: Path) -> list[Snippet]:
    """Every fenced block of ``page`` with the directives in the comments just before it."""
    lines = page.read_text().splitlines()
    snippets, pending, i = [], [], 0
    while i < len(lines):
        match = DIRECTIVE.match(lines[i])
        fence = FENCE.match(lines[i])
        if match:
            body = match["body"]
            key, _, value = body.partition(" ")
            pending.append((key, value.strip()))
        elif fence:
            start, indent, closing = i, len(fence["indent"]), fence["fence"]
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(closing):
                body.append(lines[i][indent:])
                i += 1
            snippets.append(Snippet(page, start + 1, fence["lang"].lower(), "\n".join(body) + "\n", pending))
            pending = []
        elif lines[i].strip():
            pending = []  # a directive belongs to the fence right after it
        i += 1
    return snippets


def all_snippets() -> list[Snippet]:
    return [s for page in pages() for s in parse(page) if s.lang in RUNNABLE or s.get("file")]


SNIPPETS = all_snippets()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Workspace:
    """The scratch folder the snippets share, the servers they started and each page's Python namespace."""

    def __init__(self, root: Path):
        self.root = root
        (root / "docs").symlink_to(DOCS)  # the sample image: docs/assets/digit-7.png
        self.rest_port, self.grpc_port = _free_port(), _free_port()
        self.servers: list[subprocess.Popen] = []
        self.namespaces: dict[Path, dict] = {}
        self.env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")

    def ports(self, text: str) -> str:
        for host in ("127.0.0.1", "localhost"):
            text = text.replace(f"{host}:8501", f"{host}:{self.rest_port}")
            text = text.replace(f"{host}:8500", f"{host}:{self.grpc_port}")
        return text

    def stop(self) -> None:
        for server in self.servers:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("docs-snippets"))
    yield ws
    ws.stop()


def _commands(code: str) -> list[str]:
    """The block's commands: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            commands.append(line)
    return commands


def _in_process(commands: list[str]) -> bool:
    """Plain ``kerascnn ...`` commands: no pipes, redirections, variables or background jobs."""
    for command in commands:
        words = shlex.split(command, comments=True)
        if words[0] != "kerascnn" or any(set(word) & set("|&;<>$`") for word in words):
            return False
    return True


def _run_kerascnn(argv: list[str], cwd: Path) -> tuple[int, str]:
    from kerascnn.cli.main import main

    out = io.StringIO()
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                code = main(argv)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        os.chdir(previous)
    return code, out.getvalue()


def _start_server(snippet: Snippet, ws: Workspace) -> None:
    (command,) = _commands(snippet.code)
    argv = shlex.split(command, comments=True)
    assert argv[:2] == ["kerascnn", "serve"], f"{snippet.id}: a background snippet must be one `kerascnn serve`"
    argv += ["--port", str(ws.rest_port), "--grpc-port", str(ws.grpc_port)]
    log = open(ws.root / f"server-{len(ws.servers)}.log", "w")  # the server writes it until it is stopped
    server = subprocess.Popen(
        [sys.executable, "-m", "kerascnn.cli.main", *argv[1:]], cwd=ws.root, env=ws.env, stdout=log, stderr=log
    )
    ws.servers.append(server)
    names = [a for a in argv[2:] if not a.startswith("-")]
    name = Path(names[0]).name if names else "lenet"
    deadline = time.time() + 120
    while time.time() < deadline:
        assert server.poll() is None, f"{snippet.id}: the server exited:\n{(ws.root / log.name).read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ws.rest_port}/v1/models/{name}", timeout=5) as r:
                if "AVAILABLE" in r.read().decode():
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{snippet.id}: the server did not serve {name} within 120 s")


def _run_shell(snippet: Snippet, ws: Workspace) -> tuple[int, str]:
    code = ws.ports(snippet.code)
    commands = _commands(code)
    if _in_process(commands):
        output, status = "", 0
        for command in commands:
            status, out = _run_kerascnn(shlex.split(command, comments=True)[1:], ws.root)
            output += f"$ {command}\n{out}"
            if status != 0:
                break
        return status, output
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", code],
        cwd=ws.root,
        env=ws.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return proc.returncode, proc.stdout + proc.stderr


def _run_python(snippet: Snippet, ws: Workspace) -> tuple[int, str]:
    namespace = ws.namespaces.setdefault(snippet.page, {"__name__": "__main__"})
    out = io.StringIO()
    previous = os.getcwd()
    os.chdir(ws.root)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(ws.ports(snippet.code), snippet.id, "exec"), namespace)
    finally:
        os.chdir(previous)
    return 0, out.getvalue()


def _check_environment(ws: Workspace) -> dict:
    def read_json(path):
        return json.loads((ws.root / path).read_text())

    return {
        "metrics": lambda run: read_json(Path(run) / "metrics.json"),
        "read_json": read_json,
        "Path": Path,
        "root": ws.root,
    }


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.id for s in SNIPPETS])
def test_snippet_runs_as_documented(snippet: Snippet, workspace: Workspace):
    if snippet.get("skip"):
        reason = snippet.get("skip")[0]
        assert reason, f"{snippet.id}: a skipped snippet says why"
        pytest.skip(f"documented as not runnable here: {reason}")
    if snippet.get("file"):
        (workspace.root / snippet.get("file")[0]).write_text(snippet.code)
        return
    if snippet.get("background"):
        _start_server(snippet, workspace)
        return
    kind = RUNNABLE[snippet.lang]
    status, output = (_run_shell if kind == "shell" else _run_python)(snippet, workspace)
    expected_status = int((snippet.get("exit") or ["0"])[0])
    assert status == expected_status, (
        f"{snippet.id} exited {status}, documented {expected_status}:\n{snippet.code}\n{output[-4000:]}"
    )
    for text in snippet.get("expect"):
        assert text in output, f"{snippet.id}: the output should contain {text!r}:\n{output[-4000:]}"
    for expression in snippet.get("check"):
        previous = os.getcwd()
        os.chdir(workspace.root)
        try:
            assert eval(expression, _check_environment(workspace)), f"{snippet.id}: {expression} is false"
        finally:
            os.chdir(previous)


def test_every_page_has_snippets_the_test_understands():
    """A typo in a directive or an unknown fence language would silently drop a snippet from the checks."""
    known = {"skip", "expect", "exit", "check", "background", "file"}
    for page in pages():
        for snippet in parse(page):
            for key, _ in snippet.directives:
                assert key in known, f"{snippet.id}: unknown snippet directive {key!r} (known: {sorted(known)})"


def test_readme_quick_start_and_size():
    text = (REPO / "README.md").read_text()
    lines = text.splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; the front door stays under 300"
    for command in QUICK_START_LINES:
        assert command in lines, f"README's Quick start must keep {command!r} word for word"


def test_no_machine_paths_issue_numbers_or_placeholders():
    for page in [REPO / "README.md", *DOCS.rglob("*.md")]:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            for what, pattern in FORBIDDEN.items():
                assert not pattern.search(line), f"{page.relative_to(REPO)}:{number} holds {what}: {line.strip()}"


def test_readme_zoo_table_is_the_registry():
    """Every registered model is in README's table, with the parameters and MACs `kerascnn models` computes."""
    from kerascnn.summary import format_count, zoo_table

    rows = {}
    for line in (REPO / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[1:4]
    for model in zoo_table(num_classes=10):
        expected = [
            "x".join(map(str, model["default_input_shape"])),
            f"{model['params']:,}",
            format_count(model["macs"]),
        ]
        assert model["name"] in rows, f"README's zoo table lacks {model['name']}: | `{model['name']}` | " + " | ".join(
            expected
        )
        assert rows.pop(model["name"]) == expected, f"README's row for {model['name']} should read {expected}"
    assert not rows, f"README's zoo table lists models the registry does not have: {sorted(rows)}"


def test_help_of_every_command_has_no_machine_path():
    """`--help` is documentation too: the command line reference page is generated from it."""
    from kerascnn.cli.main import build_parser

    def helps(parser, name="kerascnn"):
        yield name, parser.format_help()
        for action in parser._actions:
            choices = getattr(action, "choices", None)
            for sub_name, sub in (choices.items() if isinstance(choices, dict) else ()):
                if hasattr(sub, "format_help"):
                    yield from helps(sub, f"{name} {sub_name}")

    for name, text in helps(build_parser()):
        for what in ("a path of the development machine", "an issue number"):
            match = FORBIDDEN[what].search(text)
            assert not match, f"`{name} --help` holds {what}: {match.group(0)!r}"


def _hook(name: str):
    """A docs/hooks module (they import mkdocs, which the docs extra installs)."""
    pytest.importorskip("mkdocs")
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, DOCS / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_page_documents_every_command_and_option():
    from kerascnn.cli.main import build_parser

    page = _hook("cli_reference").render()
    parser = build_parser()
    for name, sub in _hook("cli_reference")._subcommands(parser):
        assert f"## `kerascnn {name}`" in page, f"the command line reference lacks `kerascnn {name}`"
        for action in sub._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert re.search(rf"[`, ]{re.escape(option)}[`, ]", page), f"the reference lacks {name}'s {option}"


def test_benchmarks_page_shows_every_result_with_its_command():
    hook = _hook("benchmarks_page")
    paths = sorted(hook.RESULTS.glob("*.json"))
    assert paths, "benchmarks/results/ holds no result file"
    page = hook.render(paths)
    for path in paths:
        result = json.loads(path.read_text())
        for key in ("title", "command", "versions", "cpu", "load_before", "started"):
            assert key in result, f"{path.name} lacks {key!r} (benchmarks/record.py writes it)"
        assert result["command"] in page and f"benchmarks/results/{path.name}" in page
