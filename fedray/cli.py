"""`fedray run` and `fedray validate`. Scenario problems exit 2 with one line each, no traceback."""

from __future__ import annotations

import argparse
import json
import sys

EXIT_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fedray", description="Federated-learning simulation on Ray."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a scenario")
    run.add_argument("scenario", nargs="?", help="scenario YAML (omit with --resume)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a scenario value, e.g. --set client.lr=0.1 (repeatable)",
    )
    run.add_argument("--out", help="output directory (default: output.dir, else runs/<name>)")
    run.add_argument(
        "--address", help="Ray cluster to join: 'auto' or an address (default: local Ray)"
    )
    run.add_argument(
        "--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    stress = sub.add_parser("stress", help="run a scenario over a grid of overrides and seeds")
    stress.add_argument("scenario")
    stress.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="PATH=V1,V2",
        help="one axis of the matrix, e.g. --grid defense.type=none,median (repeatable)",
    )
    stress.add_argument("--seeds", type=int, default=1, help="seeds per cell: seed, seed+1, ...")
    stress.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE"
    )
    stress.add_argument("--out", help="output directory (default: runs/stress-<name>)")
    stress.add_argument("--address", help="Ray cluster to join (default: local Ray)")
    stress.add_argument(
        "--parallel",
        default=None,
        metavar="auto|K",
        help="runs at once, each with its own placement group and pool: auto sizes it from "
        "the cluster's free resources (default with --address; else 1, one at a time)",
    )
    stress.add_argument("--no-progress", action="store_true")
    _tune_parser(sub)
    val = sub.add_parser("validate", help="check scenarios; exit 0, or 2 listing every problem")
    val.add_argument("scenarios", nargs="+")
    val.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    return parser


def _tune_parser(sub) -> None:
    tune = sub.add_parser("tune", help="hyperparameter search over scenario paths on Ray Tune")
    tune.add_argument("scenario")
    tune.add_argument(
        "--space",
        action="append",
        default=[],
        metavar="PATH=DIST(...)",
        help="an axis: choice(a,b) | grid(a,b) | uniform(lo,hi) | loguniform(lo,hi), "
        "e.g. --space client.lr=loguniform(0.01,0.5) (repeatable)",
    )
    tune.add_argument("--search", choices=("grid", "random"), default="grid")
    tune.add_argument(
        "--samples", type=int, default=1, help="random draws (grid: repeats of the grid)"
    )
    tune.add_argument("--scheduler", choices=("none", "asha"), default="none")
    tune.add_argument("--metric", default="test_accuracy", help="a column of metrics.parquet")
    tune.add_argument("--mode", choices=("max", "min"), default="max")
    tune.add_argument("--grace-period", type=int, default=1, help="ASHA: first rung (rounds)")
    tune.add_argument("--reduction-factor", type=float, default=2.0, help="ASHA: keep 1/this")
    tune.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    tune.add_argument("--out", help="output directory (default: runs/tune-<name>)")
    tune.add_argument("--address", help="Ray cluster to join (default: local Ray)")
    tune.add_argument(
        "--parallel", default="auto", metavar="auto|K", help="trials at once (default: auto)"
    )


def _report(error) -> None:
    print(f"{error.source}: {len(error.problems)} problem(s)", file=sys.stderr)
    for line in error.problems:
        print(f"  {line}", file=sys.stderr)


def _validate(args) -> int:
    from fedray.prepare import prepare
    from fedray.scenario import ScenarioError, load_scenario

    status = 0
    for path in args.scenarios:
        try:
            prepare(load_scenario(path, args.overrides))
            print(f"{path}: ok")
        except ScenarioError as exc:
            exc.source = path
            _report(exc)
            status = EXIT_BAD_INPUT
    return status


def _run(args) -> int:
    from fedray.api import run

    if (args.scenario is None) == (args.resume is None):
        print(
            "fedray run: give a scenario file, or --resume DIR (not both: a resumed run keeps "
            "its own scenario; change it with --set)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    result = run(
        args.scenario,
        args.overrides,
        out=args.out,
        address=args.address,
        resume=args.resume,
        progress=False if args.no_progress else None,
    )
    print(json.dumps(result.summary, indent=2))
    print(f"output: {result.out_dir}  (tensorboard --logdir {result.out_dir / 'tensorboard'})")
    return 0


def _stress(args) -> int:
    from pathlib import Path

    import ray

    from fedray.api import _connect
    from fedray.concurrency import parse_parallel
    from fedray.scenario import ScenarioError
    from fedray.stress import backends, check_matrix, expand, parse_grid, run_matrix

    if not args.grid:
        print("fedray stress: give at least one --grid path=v1,v2", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.seeds < 1:
        print(f"fedray stress: --seeds must be >= 1 (got {args.seeds})", file=sys.stderr)
        return EXIT_BAD_INPUT
    out = Path(args.out) if args.out else Path("runs") / f"stress-{Path(args.scenario).stem}"
    axes = parse_grid(args.grid)
    found = backends(args.scenario, expand(axes), args.overrides)
    if args.parallel is None:  # joining a cluster: use its room; on this machine, one at a time
        args.parallel = "auto" if args.address and "local" not in found else "1"
    try:
        args.parallel = parse_parallel(args.parallel)
    except ValueError as exc:
        raise ScenarioError([str(exc)], "stress") from None
    # Every cell is checked before Ray starts: a bad --set or grid value exits 2 at once.
    check_matrix(
        args.scenario, axes, seeds=args.seeds, overrides=args.overrides, parallel=args.parallel
    )
    uses_ray = "ray" in found  # every cell loaded: check_matrix said so
    if args.address and not uses_ray:
        raise ScenarioError(
            [
                f"--address {args.address}: every cell runs with resources.backend: local, in "
                "this process (expected no --address, or resources.backend: ray)"
            ],
            "stress",
        )
    started = _connect(args.address) if uses_ray else False
    try:
        run_matrix(
            args.scenario,
            axes,
            seeds=args.seeds,
            out=out,
            overrides=args.overrides,
            progress=False if args.no_progress else None,
            parallel=args.parallel,
        )
    finally:
        if started:
            ray.shutdown()
    print((out / "stress.md").read_text())
    print(f"output: {out}  (stress.parquet, stress.md, heatmap.png, tensorboard/)")
    return 0


def _tune(args) -> int:
    from pathlib import Path

    import ray

    from fedray.api import _connect
    from fedray.concurrency import parse_parallel
    from fedray.scenario import ScenarioError
    from fedray.tuning import check_search, parse, require_tune, run_search

    require_tune()
    out = Path(args.out) if args.out else Path("runs") / f"tune-{Path(args.scenario).stem}"
    if (out / "tune").exists():
        raise ScenarioError(
            [f"--out {out}: already holds a search (tune/); choose another --out"], "tune"
        )
    try:
        parallel = parse_parallel(args.parallel)
    except ValueError as exc:
        raise ScenarioError([str(exc)], "tune") from None
    search = parse(
        args.space,
        search=args.search,
        samples=args.samples,
        scheduler=args.scheduler,
        metric=args.metric,
        mode=args.mode,
        grace_period=args.grace_period,
        reduction_factor=args.reduction_factor,
    )
    check_search(args.scenario, search, args.overrides)  # before Ray starts: exit 2 at once
    started = _connect(args.address)
    try:
        table = run_search(
            args.scenario, search, out=out, overrides=args.overrides, parallel=parallel
        )
    finally:
        if started:
            ray.shutdown()
    print((out / "tune.md").read_text())
    print(f"output: {out}  (tune_results.parquet/.csv, tune.md, runs/, tensorboard/, tune/)")
    errors = [s for s in table.column("status").to_pylist() if s.startswith("error")]
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from fedray.failures import MissingExtra, NoAnswer, StartupError
    from fedray.scenario import ScenarioError

    try:
        commands = {"validate": _validate, "run": _run, "stress": _stress, "tune": _tune}
        return commands[args.command](args)
    except ScenarioError as exc:
        _report(exc)
        return EXIT_BAD_INPUT
    except MissingExtra as exc:
        print(f"fedray: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (StartupError, NoAnswer) as exc:
        print(f"fedray: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        again = (
            "run the same fedray stress command"
            if args.command == "stress"
            else ("resume with fedray run --resume <output dir>")
        )
        print(f"interrupted; {again}", file=sys.stderr)
        return 130


def console() -> int:
    """The `fedray` command: `main`, then a quick exit. A process that imported torch spends
    about half a second at exit in the garbage collector's last passes over torch's objects;
    they are freed by the process' end anyway. Moving everything to the collector's permanent
    generation first (`gc.freeze`) skips those passes. Only for the command's own process:
    `main` called from Python (tests, notebooks) leaves the collector alone."""
    try:
        return main()
    finally:
        import gc

        gc.freeze()


if __name__ == "__main__":
    sys.exit(console())
