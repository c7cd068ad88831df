"""Chaos bench: a team runs for N minutes while a seeded schedule of faults fires; then the invariants.

The team is the offline demo's scripted researchers plus two agents on the
Anthropic backend, talking to the test suite's fake Messages API server (with
429, 529, mid-stream errors and dropped streams among its answers). Faults
(``bench/chaos_faults.py``; ``--list`` shows them) fire at seeded random
times: kill -9 of the daemon then ``aar resume``, kill -9 of an evaluator
worker or of a sandbox command, SIGSTOP/SIGCONT of the daemon, the API
refusing connections, TUIs attaching, malformed rows written straight into
the store, and a supervisor's commands between them.

At the end: ``aar stop``, then every invariant of ``aar.invariants`` with its
count, plus what only the machine shows (no process outlives the run, no
temporary folder is left, ``aar report`` succeeds, every resume worked).
``--baseline`` also runs the same team without faults for as long, and prints
the submissions scored per agent-hour of both (target: ratio >= 0.8).
Last line: ``faults N (by kind), resumes R, invariants K checked, violations V``.

With ``--docker`` the agents' sandboxes are containers of the offline minimal image (busybox and bash: the
scripted researchers' Python commands fail in them, their steps, posts and the supervision go on), so
``docker kill`` of a container and, with ``--docker-restart``, a restart of the engine are among the faults.

Usage: python bench/chaos.py [--minutes 30] [--seed S] [--baseline] [--faults a,b] [--docker [--docker-restart]]
       [--disk-fill]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aar.config import dump_config, load_config  # noqa: E402
from aar.invariants import Checked, check_store  # noqa: E402
from aar.lock import holder_pid  # noqa: E402
from aar.runs import summarise  # noqa: E402
from aar.runtime import RunPaths  # noqa: E402
from bench import chaos_faults as faults  # noqa: E402
from bench import chaos_procs as procs  # noqa: E402
from bench.chaos_api import API_FAULT_SHARE, ChaosApi  # noqa: E402
from bench.chaos_monitors import monitor_decisions_recorded  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEY_ENV = "AAR_CHAOS_ANTHROPIC_KEY"
MODEL = "claude-sonnet-4-6"
SCRIPTED = 4
CLAUDE = 2
WARMUP_S = 15.0
"""No fault before the team is at work."""
COOLDOWN_S = 5.0
"""No fault in the last seconds, so the last one's effect is on record before the stop."""
MEAN_GAP_S = 12.0
"""Mean time between two faults."""
CACHES = ("torchinductor_",)
"""What the run's processes keep in TMPDIR on purpose, across runs (torch's compile cache): not left behind."""
SMALL_DISK_MB = 1024
"""With ``--disk-fill``: the size of the tmpfs the run lives on (the fault fills it)."""
DOCKER_FAULTS = ("docker_kill", "docker_restart")
ORPHAN_GRACE_S = 10.0
"""After the stop, how long the run's processes may take to end."""


def team_config(runs_dir: Path, base_url: str | None, *, scripted: int = SCRIPTED, docker: str | None = None) -> Path:
    """The demo's team (scripted researchers, one misbehaving) and two Claude agents, with no step limit; with
    ``docker`` (an image), the agents' sandboxes are containers of it."""
    overrides = ["run.max_steps=0", "team.pace_s=0.5", "evaluator.seeds=1", f"run.runs_dir={runs_dir}"]
    if docker is not None:
        overrides += ["sandbox.backend=docker", f"sandbox.image={docker}", "sandbox.memory=512m"]
    config = load_config(ROOT / "examples" / "demo.toml", overrides)
    data = config.model_dump(mode="json", exclude_none=True)
    data["run"]["name"] = "chaos"
    data["agents"] = [{"name": f"agent-{i + 1}"} for i in range(scripted)]
    if base_url is not None:
        data["agents"] += [
            {"name": f"claude-{i + 1}", "backend": "anthropic", "model": MODEL, "budget": {"dollars": 50.0}}
            for i in range(CLAUDE)
        ]
        data["anthropic"] = {"base_url": base_url, "api_key_env": KEY_ENV, "max_retries": 8, "timeout_s": 60.0}
    path = runs_dir.parent / "chaos.toml"
    path.write_text(dump_config(load_config(data)))
    return path


class Bench:
    """One run of the team, with or without faults, and what it left behind."""

    def __init__(
        self,
        work: Path,
        *,
        seed: int,
        kinds: list[str],
        anthropic: bool,
        label: str,
        disk_mb: int = 0,
        docker: str | None = None,
    ) -> None:
        self.work = work
        self.docker = docker
        self.label = label
        self.rng = random.Random(seed)
        self.kinds = kinds
        self.api: ChaosApi | None = None
        if anthropic:
            self.api = ChaosApi(random.Random(seed + 1), fault_share=API_FAULT_SHARE if kinds else 0.0)
        self.runs_dir = work / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.mounted = False
        if disk_mb:
            # A small disk of its own, so the disk_fill fault can fill it without touching the machine's.
            mount = ["mount", "-t", "tmpfs", "-o", f"size={disk_mb}m", "tmpfs", str(self.runs_dir)]
            done = subprocess.run(mount, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"chaos: --disk-fill needs a small disk for the run: {done.stderr.strip()}")
            self.mounted = True
        self.env = {**os.environ, "AAR_RUNS_DIR": str(self.runs_dir), KEY_ENV: "sk-ant-chaos-fake-key"}
        self.env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
        self.tmp = work / "tmp"
        """The run's processes' TMPDIR: what they leave there is theirs (other programs share /tmp)."""
        self.tmp.mkdir(exist_ok=True)
        self.env["TMPDIR"] = str(self.tmp)
        self.paths = RunPaths(self.runs_dir / "unstarted")
        self.agents: list[str] = []
        self.tuis: list[subprocess.Popen[bytes]] = []
        self.timers: list[threading.Timer] = []
        self.problems: list[str] = []
        self.resumes = 0
        self.fired: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.seen: set[procs.Proc] = set()
        self.elapsed_s = 0.0
        self.last_fault_event = 0
        """The newest committed event when the last fault fired: the monitors must have judged up to it."""
        self.last_docker_fault = 0
        """The newest committed event after the last ``DOCKER_FAULTS`` fault: every agent's sandbox ran a
        command after it."""

    # ------------------------------------------------------------ what faults use

    def aar(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aar_app.cli", *args],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def daemon(self) -> procs.Proc | None:
        pid = holder_pid(self.paths.lock)
        return procs.read(pid) if pid and pid > 0 else None

    def watch(self) -> None:
        """Remember the daemon and everything below it, to find orphans at the end."""
        daemon = self.daemon()
        if daemon is not None:
            self.seen.add(daemon)
            self.seen.update(procs.descendants(daemon.pid))

    # ------------------------------------------------------------ the run

    def start(self) -> None:
        base_url = self.api.start() if self.api else None
        config_file = team_config(self.runs_dir, base_url, docker=self.docker)
        started = self.aar("run", str(config_file), "--no-attach", timeout=300)
        if started.returncode != 0:
            raise SystemExit(f"chaos: the run did not start: {started.stderr.strip()[-2000:]}")
        (root,) = [p for p in self.runs_dir.iterdir() if (p / "run.db").exists()]
        self.paths = RunPaths(root)
        config = load_config(self.paths.config)
        self.agents = [a.name for a in config.resolved_agents()]
        if config.sandbox.backend == "local" and "docker_kill" in self.kinds:
            self.kinds = [k for k in self.kinds if k != "docker_kill"]
            print(f"{self.label}: docker_kill is off: the run's sandboxes are {config.sandbox.backend}", flush=True)

    def schedule(self, seconds: float) -> list[tuple[float, str]]:
        """Seeded fault times and kinds: gaps drawn around ``MEAN_GAP_S``, kinds dealt from shuffled rounds so
        every kind comes up before any comes twice."""
        out: list[tuple[float, str]] = []
        t, deck = WARMUP_S, list[str]()
        while self.kinds:
            t += min(max(self.rng.expovariate(1 / MEAN_GAP_S), 3.0), 3 * MEAN_GAP_S)
            if t > seconds - COOLDOWN_S:
                return out
            if not deck:
                deck = self.rng.sample(self.kinds, len(self.kinds))
            out.append((t, deck.pop()))
        return out

    def drive(self, seconds: float) -> None:
        start = time.monotonic()
        for at, kind in self.schedule(seconds):
            while time.monotonic() - start < at and self._live():
                self.watch()
                time.sleep(0.5)
            if not self._live():
                break
            self._fire(kind, time.monotonic() - start)
        while time.monotonic() - start < seconds and self._live():
            self.watch()
            time.sleep(0.5)
        self.elapsed_s = time.monotonic() - start

    def _live(self) -> bool:
        """The run goes on (a daemon holds it, or it crashed and waits for its resume)."""
        return summarise(self.paths).state in ("starting", "running", "crashed")

    def _fire(self, kind: str, at: float) -> None:
        before = self._last_event()
        try:
            said = faults.BY_NAME[kind].act(self)
        except faults.Skip as skip:
            self.skipped[kind] += 1
            print(f"  {at:6.1f}s {kind}: skipped ({skip})", flush=True)
            return
        self.fired[kind] += 1
        self.last_fault_event = before
        if kind in DOCKER_FAULTS:
            self.last_docker_fault = self._last_event()
        print(f"  {at:6.1f}s {kind}: {said}", flush=True)

    def _last_event(self) -> int:
        with sqlite3.connect(f"file:{self.paths.db}?mode=ro", uri=True, timeout=30) as db:
            last = int(db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])
        db.close()
        return last

    def finish(self) -> list[Checked]:
        """End the faults, stop the run, and check everything."""
        for timer in self.timers:
            timer.cancel()
        if self.api is not None:
            self.api.listen()
        (self.paths.root.parent / ".chaos-filler").unlink(missing_ok=True)
        self.watch()
        if summarise(self.paths).state == "crashed":
            faults._resume(self)
        stopped = self.aar("stop", self.paths.run_id, timeout=180)
        if stopped.returncode != 0:
            self.problems.append(f"aar stop failed (exit {stopped.returncode}): {stopped.stderr.strip()[-500:]}")
        checks = check_store(self.paths.db)
        checks.append(monitor_decisions_recorded(self.paths.root, self.last_fault_event))
        checks += [self._no_orphans(), self._no_temp_folders(), self._tuis_ok(), self._report_ok()]
        if self.last_docker_fault:
            checks.append(self._sandboxes_back())
        checks.append(Checked("faults_survived", sum(self.fired.values()) + self.resumes, list(self.problems)))
        if self.api is not None:
            self.api.close()
        return checks

    def close(self, keep: bool = False) -> None:
        """Give back the run's small disk, if it had one (its processes have ended); with ``keep``, its run
        folders (stores and logs, not workspaces) are copied beside it first, to be read after the bench."""
        if self.mounted:
            if keep:
                kept = self.work / "kept"
                for run in self.runs_dir.iterdir():
                    shutil.copytree(
                        run, kept / run.name, ignore=shutil.ignore_patterns("workspaces"), dirs_exist_ok=True
                    )
            subprocess.run(["umount", "-l", str(self.runs_dir)], capture_output=True)
            self.mounted = False

    # ------------------------------------------------------------ what only the machine shows

    def _no_orphans(self) -> Checked:
        deadline = time.monotonic() + ORPHAN_GRACE_S
        while True:
            left = {p for p in self.seen if p.alive()} | set(procs.holders(self.paths.root))
            left = {p for p in left if p.pid != os.getpid()}
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        bad = [
            f"pid {p.pid} ({p.name}: {p.cmdline()[:160]}) outlived the run" for p in sorted(left, key=lambda p: p.pid)
        ]
        for p in left:
            procs.kill(p)
        return Checked("no_orphan_processes", len(self.seen), bad)

    def _no_temp_folders(self) -> Checked:
        found = [
            p
            for pattern in (".verify-*", ".bundle-*", ".*-tmp*")
            for p in self.paths.root.rglob(pattern)
            if p.is_dir() and len(p.relative_to(self.paths.root).parts) <= 3
        ]
        found += sorted(p for p in self.tmp.iterdir() if not p.name.startswith(CACHES))
        return Checked("no_temp_folders", len(found), [f"{p} left behind" for p in found])

    def _tuis_ok(self) -> Checked:
        bad = []
        for tui in self.tuis:
            try:
                _, err = tui.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                tui.kill()
                bad.append(f"a TUI (pid {tui.pid}) did not detach within 60s")
                continue
            if tui.returncode != 0:
                tail = err.decode(errors="replace").strip().splitlines()[-3:]
                bad.append(f"a TUI exited {tui.returncode}: {' / '.join(tail)}")
        return Checked("tuis_attached_and_detached", len(self.tuis), bad)

    def _sandboxes_back(self) -> Checked:
        """After the last container killed or engine restarted, the sandboxes serve again: each agent's last
        ``bash`` call that returned after it ran in its sandbox to its end (its container recreated, with its
        workspace), rather than failing on a dead one. Agents that ran none after it (finished) are not counted."""
        with sqlite3.connect(f"file:{self.paths.db}?mode=ro", uri=True, timeout=30) as db:
            last = dict(
                db.execute(
                    "SELECT agent, json_extract(payload, '$.call_id') FROM events WHERE kind = 'tool.result'"
                    " AND json_extract(payload, '$.tool') = 'bash' AND id > ? ORDER BY id",
                    (self.last_docker_fault,),
                ).fetchall()
            )
            ran = {
                str(c)
                for (c,) in db.execute(
                    "SELECT json_extract(payload, '$.call_id') FROM events WHERE kind = 'sandbox.exit' AND id > ?",
                    (self.last_docker_fault,),
                )
            }
            recreated = db.execute(
                "SELECT COUNT(*) FROM events WHERE kind = 'sandbox.lifecycle' AND json_extract(payload, '$.action')"
                " IN ('restarted', 'recreated')"
            ).fetchone()[0]
        db.close()
        lost = [
            f"{a}: its last bash call ({c}) after the last Docker fault never ran"
            for a, c in last.items()
            if c not in ran
        ]
        print(
            f"{self.label}: sandboxes restarted or recreated {recreated} times; "
            f"{len(last)} agents ran bash after the last Docker fault",
            flush=True,
        )
        return Checked("sandboxes_back_after_docker_faults", len(last), lost)

    def _report_ok(self) -> Checked:
        report = self.aar("report", self.paths.run_id, "--format", "json", timeout=300)
        if report.returncode != 0:
            return Checked("report_succeeds", 1, [f"aar report exited {report.returncode}: {report.stderr[-500:]}"])
        try:
            json.loads(report.stdout)
        except ValueError as exc:
            return Checked("report_succeeds", 1, [f"aar report printed no JSON: {exc}"])
        return Checked("report_succeeds", 1)

    def scored_per_agent_hour(self) -> float:
        with sqlite3.connect(f"file:{self.paths.db}?mode=ro", uri=True) as db:
            scored = db.execute("SELECT COUNT(*) FROM submissions WHERE status = 'scored'").fetchone()[0]
        db.close()
        hours = max(self.elapsed_s, 1.0) / 3600
        return float(scored) / (len(self.agents) * hours)


def run_once(
    work: Path,
    benches: list[Bench],
    *,
    minutes: float,
    seed: int,
    kinds: list[str],
    anthropic: bool,
    label: str,
    disk_mb: int = 0,
    docker: str | None = None,
) -> Bench:
    """Start a run (kept in ``benches``, so it is given back whatever happens) and drive it for ``minutes``."""
    bench = Bench(work, seed=seed, kinds=kinds, anthropic=anthropic, label=label, disk_mb=disk_mb, docker=docker)
    benches.append(bench)
    print(f"{label}: starting ({minutes:g} min, seed {seed}, faults: {', '.join(kinds) or 'none'})", flush=True)
    bench.start()
    bench.watch()
    print(f"{label}: run {bench.paths.run_id} in {bench.paths.root}", flush=True)
    bench.drive(minutes * 60)
    return bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--baseline", action="store_true", help="also run the team without faults, as long")
    parser.add_argument("--faults", default="", help="comma-separated fault names to fire (default: those on)")
    parser.add_argument(
        "--docker",
        action="store_true",
        help="the agents' sandboxes are Docker containers (the offline minimal image, imported if missing)",
    )
    parser.add_argument("--docker-restart", action="store_true", help="also restart the Docker engine (with --docker)")
    parser.add_argument("--disk-fill", action="store_true", help="also fill the run's disk (needs a small one)")
    parser.add_argument("--no-anthropic", action="store_true", help="scripted agents only (no fake API server)")
    parser.add_argument("--work", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--list", action="store_true", help="list the faults and exit")
    parser.add_argument("--tui", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tui is not None:
        return asyncio.run(_attach_tui(args.tui))
    if args.list:
        print(faults.describe())
        return 0
    try:
        kinds = faults.loads(args.faults) if args.faults else [f.name for f in faults.FAULTS if f.on]
    except ValueError as exc:
        parser.error(str(exc))
    kinds += [k for k, on in (("docker_restart", args.docker_restart), ("disk_fill", args.disk_fill)) if on]
    kinds = list(dict.fromkeys(kinds))
    docker = _minimal_image() if args.docker else None
    if docker is None and "docker_restart" in kinds:
        parser.error("--docker-restart needs --docker: with local sandboxes the engine restart touches no agent")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    anthropic = not args.no_anthropic
    started = time.monotonic()
    work = args.work or Path(tempfile.mkdtemp(prefix="chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    benches: list[Bench] = []
    try:
        disk_mb = SMALL_DISK_MB if args.disk_fill else 0
        chaos = run_once(
            work / "chaos",
            benches,
            minutes=args.minutes,
            seed=seed,
            kinds=kinds,
            anthropic=anthropic,
            label="chaos",
            disk_mb=disk_mb,
            docker=docker,
        )
        checks = chaos.finish()
        rate = chaos.scored_per_agent_hour()
        base = None
        if args.baseline:
            base = run_once(
                work / "baseline",
                benches,
                minutes=args.minutes,
                seed=seed,
                kinds=[],
                anthropic=anthropic,
                label="baseline",
                docker=docker,
            )
            base.finish()
            ref = base.scored_per_agent_hour()
    finally:
        for bench in benches:
            bench.close(keep=args.work is not None)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    violations = sum(len(c.violations) for c in checks)
    for c in checks:
        print(c.line())
    if chaos.api is not None:
        api = ", ".join(f"{k} {n}" for k, n in sorted(chaos.api.faults.items()))
        print(f"api: {chaos.api.calls} model calls, faults served: {api or 'none'}")
    if chaos.skipped:
        print("skipped (nothing to act on): " + ", ".join(f"{k} {n}" for k, n in sorted(chaos.skipped.items())))
    if base is not None:
        ratio = rate / ref if ref else float("nan")
        print(
            f"scored submissions per agent-hour: chaos {rate:.1f}, fault-free {ref:.1f}, ratio {ratio:.2f} (target >= 0.8)"
        )
    else:
        print(f"scored submissions per agent-hour: chaos {rate:.1f} (--baseline compares a fault-free run)")
    print(f"wall time {time.monotonic() - started:.0f}s, seed {seed}")
    if violations:
        print(f"VIOLATIONS: reproduce with python bench/chaos.py --minutes {args.minutes:g} --seed {seed}")
    fired = {k: n for k, n in sorted(chaos.fired.items()) if not faults.BY_NAME[k].load}
    load = {k: n for k, n in sorted(chaos.fired.items()) if faults.BY_NAME[k].load}
    if load:
        print("besides the faults: " + ", ".join(f"{k} {n}" for k, n in load.items()))
    by_kind = ", ".join(f"{k} {n}" for k, n in fired.items())
    print(
        f"faults {sum(fired.values())} ({by_kind or 'none'}), resumes {chaos.resumes}, "
        f"invariants {len(checks)} checked, violations {violations}"
    )
    return 1 if violations else 0


def _minimal_image() -> str:
    """The offline minimal image's tag, imported into the engine if it is not there."""
    import docker

    from sandbox.minimal_image import ensure_minimal_image

    try:
        return ensure_minimal_image(docker.from_env())
    except docker.errors.DockerException as exc:
        raise SystemExit(f"chaos: --docker needs a Docker engine that answers: {exc}") from exc


async def _attach_tui(run_dir: Path) -> int:
    """One headless TUI: attach to the run, wait until it has read the store, stay a while, detach with ``q``."""
    from tui.app import AarApp

    app = AarApp(run_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        deadline = time.monotonic() + 60
        while app.polls == 0 and time.monotonic() < deadline:
            await pilot.pause(0.1)
        if app.polls == 0:
            print("the TUI never read the store", file=sys.stderr)
            return 1
        await pilot.pause(faults.TUI_ATTACHED_S)
        await pilot.press("q")
    return 0


if __name__ == "__main__":
    sys.exit(main())
