"""The ``aar`` command. Errors a user can fix are printed as one line, exit code 2."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from aar.config import RunConfig, load_config
from aar.devices import missing_devices
from aar.errors import AarError, ConfigError, RunLocked
from aar.escape import one_line, visible
from aar.lock import holder_pid
from aar.runs import check_resumable, create_run, find_run, list_runs, summarise
from aar.runtime import RunPaths
from aar.store.search_index import SEARCH_KINDS

DEFAULT_RUNS_DIR = Path(os.environ.get("AAR_RUNS_DIR", "runs"))
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aar", description="A terminal control room for a team of automated alignment researchers."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def runs_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--runs-dir", type=Path, default=DEFAULT_RUNS_DIR, help="where runs live (default: runs, or $AAR_RUNS_DIR)"
        )

    p = sub.add_parser("run", help="start a run from a config and attach the TUI")
    p.add_argument("config", type=Path)
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    p.add_argument("--headless", action="store_true", help="run the daemon in the foreground, one line per event")
    p.add_argument("--no-attach", action="store_true", help="start the daemon detached and return")

    p = sub.add_parser("ls", help="list runs")
    runs_dir(p)
    p.add_argument("--format", choices=["table", "json"], default="table")

    for name, text in (
        ("attach", "attach the TUI to a run (the newest by default)"),
        ("resume", "continue a stopped or crashed run"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("run", nargs="?")
        runs_dir(p)
        if name == "resume":
            p.add_argument("--headless", action="store_true")
            p.add_argument("--no-attach", action="store_true")
        else:
            p.add_argument(
                "--at",
                default=None,
                metavar="MOMENT",
                help="replay the run as it was then: 3h (after its start), 2026-11-30T03:00, or event:123456",
            )

    p = sub.add_parser("backup", help="copy a run, live or not, to a new folder that `aar resume` continues")
    p.add_argument("run")
    p.add_argument("dest", type=Path)
    runs_dir(p)

    p = sub.add_parser("stop", help="stop a run gracefully")
    p.add_argument("run")
    runs_dir(p)

    p = sub.add_parser("report", help="leaderboard, costs, flags and per-agent summaries")
    p.add_argument("run", nargs="?")
    runs_dir(p)
    p.add_argument(
        "--format",
        choices=["md", "json", "html"],
        default="md",
        help="md (the progress chart as an SVG beside it), json, or html (one self-contained page to send)",
    )
    p.add_argument("--final", action="store_true", help="score the private final split (once per run)")
    p.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help="write the report to PATH (md: the chart beside it as PATH's stem + -chart.svg); default: stdout, "
        "with md's chart in RUN/report/chart.svg",
    )
    p.add_argument(
        "--reference",
        type=_pgr_line,
        action="append",
        metavar="PGR",
        help="a reference line on the progress chart, e.g. 0.23 (repeatable; replaces [report] reference_pgr)",
    )

    p = sub.add_parser("branch", help="start a new agent from an agent's past step, with guidance and its own budget")
    p.add_argument("run")
    p.add_argument("agent")
    runs_dir(p)
    p.add_argument("--step", type=int, required=True, help="the agent's step to branch after (0: its start)")
    p.add_argument("--guidance", required=True, help="what the branch reads first, from the supervisor")
    p.add_argument(
        "--budget",
        default="",
        metavar="AMOUNTS",
        help="the branch's own budget, e.g. '$2, 50k, 30m' (dollars, tokens, wall clock); default: no limit",
    )

    p = sub.add_parser("inbox", help="what needs the supervisor: approvals, questions, alerts (ranked)")
    p.add_argument("run", nargs="?")
    runs_dir(p)
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("--all", action="store_true", help="also list items settled or acknowledged")
    p.add_argument("--ack", type=int, nargs="+", default=[], metavar="ID", help="acknowledge these items first")

    p = sub.add_parser("digest", help="what happened since you left: new best, submissions, flags, waiting, spend")
    p.add_argument("run", nargs="?")
    runs_dir(p)
    p.add_argument("--since", help="90s, 30m, 8h, 2d ago or a time (2026-11-30T03:00); default: your last detach")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")

    p = sub.add_parser("search", help="full-text search of every agent's thinking, tool calls, outputs and posts")
    p.add_argument("words", nargs="+", metavar="RUN QUERY", help="the run and the query (FTS5 syntax)")
    runs_dir(p)
    p.add_argument("--all", action="store_true", help="search every run under the runs folder: aar search --all QUERY")
    p.add_argument("--agent", help="only this agent's")
    p.add_argument("--kind", choices=SEARCH_KINDS, help="only this kind of text")
    p.add_argument("--limit", type=int, default=50, help="at most this many hits per run (default 50)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")

    p = sub.add_parser("transfer", help="re-run the best verified methods on the run's transfer targets")
    p.add_argument("run", nargs="?")
    runs_dir(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--top", type=int, metavar="K", help="the top K verified methods (default: transfer.top_k)")
    which.add_argument("--submission", type=int, metavar="ID", help="this method submission only")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")

    p = sub.add_parser("review", help="the top verified methods with everything known of each; record a verdict")
    p.add_argument("run", nargs="?")
    runs_dir(p)
    p.add_argument("--top", type=int, metavar="K", help="the top K verified methods (default: transfer.top_k)")
    p.add_argument(
        "--verdict",
        nargs=2,
        metavar=("ID", "VERDICT"),
        help="record a verdict (accept, reject or needs-work) on any submission, a prediction file too; "
        "the team reads it on the forum",
    )
    p.add_argument("--note", help="why, with --verdict (posted to the forum with it)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")

    p = sub.add_parser(
        "export",
        help="write a verified method's reproducible record to a folder (it holds the run's SECRET data seed)",
        description="Write a verified method's source, manifest.json (aar version, lockfile hash, task configs, "
        "seeds, data hashes, per-seed results, PGR with CI, verdict) and a README to one folder (default "
        "RUN/exports/sub-ID/); `aar eval --reproduce DIR` re-runs it. WARNING: the folder holds the run's secret "
        "data seed, with which anyone can regenerate the toy task's held-out labels: keep it where no agent can "
        "read it.",
    )
    p.add_argument("run")
    p.add_argument("--submission", type=int, metavar="ID", required=True, help="the verified method submission")
    p.add_argument("--out", type=Path, metavar="DIR", help="the folder (default: RUN/exports/sub-ID/)")
    p.add_argument("--force", action="store_true", help="replace the folder if it is not empty")
    runs_dir(p)

    p = sub.add_parser("compare", help="two methods side by side: per-seed PGR, the paired difference, the diff")
    p.add_argument("run")
    p.add_argument("a", metavar="A", help="a method submission id, or vanilla")
    p.add_argument("b", metavar="B", help="a method submission id, or vanilla")
    runs_dir(p)
    p.add_argument("--json", action="store_true", help="print JSON for scripts")

    p = sub.add_parser("exec", help="run a command in an agent's sandbox")
    p.add_argument("run")
    p.add_argument("agent")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ...")
    runs_dir(p)

    # These two parse their own arguments (see PASS_THROUGH); listed here for --help.
    sub.add_parser(
        "eval",
        help="evaluate a method from the shell: aar eval --task toy --method NAME|PATH --seeds N",
        add_help=False,
    )
    sub.add_parser("sandbox", help="sandbox images: aar sandbox build", add_help=False)
    return parser


def _wait_started(paths: RunPaths, proc_poll: Callable[[], int | None]) -> None:
    """Block until the detached daemon holds the lock and left ``created``/``starting``."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc_poll() is not None:
            tail = (paths.logs / "daemon.log").read_text(errors="replace").strip().splitlines()[-5:]
            raise AarError(
                f"the daemon exited at start: {' / '.join(tail) or 'no output'} (see {paths.logs / 'daemon.log'})"
            )
        if holder_pid(paths.lock) is not None and summarise(paths).state not in ("created", "starting"):
            return
        time.sleep(0.1)
    raise AarError(f"the daemon did not start within {START_TIMEOUT_S:.0f}s; see {paths.logs / 'daemon.log'}")


def _start(paths: RunPaths, *, headless: bool, attach: bool) -> int:
    from aar_app.daemon import run_daemon, spawn_detached

    if headless:
        from aar.eventline import one_line

        print(f"run {paths.run_id} in {paths.root}", flush=True)
        return asyncio.run(run_daemon(paths.root, printer=lambda row: print(one_line(row), flush=True)))
    proc = spawn_detached(paths.root)
    _wait_started(paths, proc.poll)
    print(f"run {paths.run_id} started (daemon pid {proc.pid}); log: {paths.logs / 'daemon.log'}")
    return _attach(paths) if attach else 0


def _attach(paths: RunPaths, at: str | None = None) -> int:
    from tui.app import run_tui

    code = run_tui(paths.root, at=at)
    state = summarise(paths).state
    print(f"detached from {paths.run_id} ({state}); `aar attach {paths.run_id}` to come back")
    return code


def _preflight(config: RunConfig) -> None:
    """Fail before a run exists, not minutes into it: the features' options must fit their models, sandboxes
    need isolation, every device must exist, a Ray cluster must answer with room for a job, a Claude team needs its key
    and prices."""
    from agents.options import option_problems
    from sandbox.factory import check_isolation

    problems = option_problems(config)
    if problems:
        raise ConfigError(problems)

    check_isolation(config.sandbox)
    missing = missing_devices(config.device_plan())
    if missing:
        raise ConfigError(missing)
    if config.evaluator.backend == "ray":
        from evaluator.daemon.ray_cluster import check_cluster

        print(visible(check_cluster(config.ray)), file=sys.stderr)
    if any(agent.backend == "anthropic" for agent in config.resolved_agents()):
        from agents.anthropic_backend import AnthropicBackend

        asyncio.run(AnthropicBackend.from_config(config).aclose())


def _cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)
    _preflight(config)
    paths = asyncio.run(create_run(config))
    return _start(paths, headless=args.headless, attach=not args.no_attach)


def _cmd_resume(args: argparse.Namespace) -> int:
    paths = find_run(args.runs_dir, args.run)
    pid = holder_pid(paths.lock)
    if pid is not None:
        raise RunLocked(f"{paths.run_id} is running (daemon pid {pid}); `aar attach {paths.run_id}` to watch it")
    check_resumable(paths)
    _preflight(load_config(paths.config))
    return _start(paths, headless=args.headless, attach=not args.no_attach)


def _cmd_backup(args: argparse.Namespace) -> int:
    from aar.backup import backup_run

    paths = find_run(args.runs_dir, args.run)
    summary = backup_run(paths, args.dest)
    print(visible(summary.line()))
    for skipped in summary.skipped[:10]:
        print(f"  skipped {one_line(skipped, 300)}")
    print(f"`aar resume {visible(str(summary.dest))}` continues the copy")
    return 0


def _cmd_ls(args: argparse.Namespace) -> int:
    runs = list_runs(args.runs_dir)
    if args.format == "json":
        print(json.dumps([r.model_dump() for r in runs], indent=2))
        return 0
    if not runs:
        print(f"no runs under {args.runs_dir}")
        return 0
    print(f"{'RUN':<32} {'STATE':<9} {'AGENTS':>6} {'SPEND':>9} {'EVENTS':>8} {'AGE':>7}")
    for r in runs:
        age = time.time() - r.created_ts
        shown = f"{age / 3600:.1f}h" if age >= 3600 else f"{age / 60:.0f}m"
        print(
            f"{one_line(r.run, 64):<32} {r.state:<9} {r.agents:>6} {'$' + format(r.spend_usd, '.2f'):>9} {r.events:>8} {shown:>7}"
        )
        for line in r.cluster.lines() if r.cluster else []:
            print(f"  {visible(line)}")
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    paths = find_run(args.runs_dir, args.run)
    pid = holder_pid(paths.lock)
    if pid is None:
        print(f"{paths.run_id} is not running ({summarise(paths).state})")
        return 0

    async def ask() -> None:
        from aar.commands import RUN_TARGET, StopRun
        from aar.store import RunStore

        async with await RunStore.open(paths.db) as store:
            await store.issue_command(StopRun(by="aar stop"), RUN_TARGET)

    asyncio.run(ask())
    if not _wait_released(paths, STOP_TIMEOUT_S / 2) and pid > 0:
        os.kill(pid, signal.SIGTERM)  # the command was not picked up in time: ask the process itself
        if not _wait_released(paths, STOP_TIMEOUT_S):
            raise AarError(f"daemon pid {pid} did not stop; `kill -9 {pid}`, then `aar resume {paths.run_id}` later")
    print(f"{paths.run_id} {summarise(paths).state}")
    return 0


def _wait_released(paths: RunPaths, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while holder_pid(paths.lock) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _pgr_line(text: str) -> float:
    """A ``--reference`` value: a finite PGR (the chart draws it as a line)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not -10 <= value <= 10:
        raise argparse.ArgumentTypeError(f"{text!r} is not a PGR between -10 and 10 (e.g. 0.23)")
    return value


def _cmd_report(args: argparse.Namespace) -> int:
    from aar_app.report_out import render_report

    paths = find_run(args.runs_dir, args.run)
    if args.final:
        from evaluator.daemon.final import score_final

        config = load_config(paths.config)

        async def final() -> None:
            from aar.store import RunStore

            async with await RunStore.open(paths.db) as store:
                await score_final(store, paths, config)

        asyncio.run(final())
    text, beside = asyncio.run(render_report(paths, args.format, out=args.out, reference_pgr=args.reference))
    if args.out is None:
        print(text, end="")
        return 0
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise AarError(f"--out {args.out}: {exc.strerror or exc}") from None
    print("wrote " + ", ".join(str(p) for p in [args.out, *beside]))
    return 0


def _cmd_inbox(args: argparse.Namespace) -> int:
    from aar_app.inbox_cli import main as inbox_main

    paths = find_run(args.runs_dir, args.run)
    return inbox_main(paths, as_json=args.json, include_done=args.all, ack=args.ack)


def _cmd_digest(args: argparse.Namespace) -> int:
    from aar import digest
    from aar.store import RunStore

    paths = find_run(args.runs_dir, args.run)

    async def build() -> digest.Digest:
        async with await RunStore.open(paths.db) as store:
            now = time.time()
            since = digest.parse_since(args.since, now=now) if args.since else await digest.last_visit(store, now=now)
            return await digest.build(store, paths.run_id, since, now=now)

    found = asyncio.run(build())
    print(found.model_dump_json(indent=2) if args.json else digest.render(found))
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from aar_app.search_cli import main as search_main
    from aar_app.search_cli import run_folders

    if args.all:
        if len(args.words) != 1:
            raise AarError("with --all, give only the query: aar search --all QUERY")
        runs, query = run_folders(args.runs_dir), args.words[0]
    elif len(args.words) != 2:
        raise AarError("give the run and the query: aar search RUN QUERY (or aar search --all QUERY)")
    else:
        runs, query = [find_run(args.runs_dir, args.words[0])], args.words[1]
    if args.limit < 1:
        raise AarError("--limit must be at least 1")
    return search_main(
        runs, query, agent=args.agent, kind=args.kind, limit=args.limit, as_json=args.json, every=args.all
    )


def _cmd_exec(args: argparse.Namespace) -> int:
    from sandbox.cli import exec_in_run

    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise AarError("give a command after --, e.g. `aar exec RUN AGENT -- ls task`")
    paths = find_run(args.runs_dir, args.run)
    return asyncio.run(exec_in_run(paths, load_config(paths.config), args.agent, argv))


def _cmd_eval(argv: list[str]) -> int:
    from evaluator.daemon.cli import main as eval_main
    from tui.text import throughput_line

    return eval_main(argv, training_line=throughput_line)


def _cmd_sandbox(argv: list[str]) -> int:
    if argv[:1] != ["build"]:
        raise AarError("usage: aar sandbox build [--gpu] [--tag TAG] [--context DIR]")
    from sandbox.build import main as build_main

    return build_main(argv[1:])


def _compare(args: argparse.Namespace) -> int:
    from aar_app.compare_cli import main as compare_main

    return compare_main(find_run(args.runs_dir, args.run), args.a, args.b, as_json=args.json)


def _transfer(args: argparse.Namespace) -> int:
    from aar_app.transfer_cli import main as transfer_main

    return transfer_main(find_run(args.runs_dir, args.run), top=args.top, submission=args.submission, as_json=args.json)


def _cmd_review(args: argparse.Namespace) -> int:
    from aar_app.review_cli import main as review_main

    paths = find_run(args.runs_dir, args.run)
    return review_main(paths, top=args.top, as_json=args.json, verdict=args.verdict, note=args.note)


def _branch(args: argparse.Namespace) -> int:
    from aar_app.branch_cli import main as branch_main

    paths = find_run(args.runs_dir, args.run)
    return branch_main(paths, args.agent, step=args.step, guidance=args.guidance, budget=args.budget)


def _export(args: argparse.Namespace) -> int:
    from aar_app.export_cli import main as export_main

    return export_main(find_run(args.runs_dir, args.run), submission=args.submission, out=args.out, force=args.force)


PASS_THROUGH = {"eval": _cmd_eval, "sandbox": _cmd_sandbox}
"""Subcommands whose own parsers take every argument after their name."""


COMMANDS = {
    "run": _cmd_run,
    "resume": _cmd_resume,
    "attach": lambda a: _attach(find_run(a.runs_dir, a.run), a.at),
    "ls": _cmd_ls,
    "backup": _cmd_backup,
    "stop": _cmd_stop,
    "report": _cmd_report,
    "inbox": _cmd_inbox,
    "search": _cmd_search,
    "review": _cmd_review,
    "digest": _cmd_digest,
    "exec": _cmd_exec,
    "transfer": _transfer,
    "compare": _compare,
    "export": _export,
    "branch": _branch,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] and argv[0] in PASS_THROUGH:
            return PASS_THROUGH[argv[0]](argv[1:])
        args = _parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except AarError as exc:
        for line in str(exc).splitlines():
            print(f"aar: error: {visible(line)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
