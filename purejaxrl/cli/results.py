"""Reading finished runs: ``eval``, ``render``, ``plot``, ``compare`` and the summary table.

A run directory may be followed by ``@FIELD=VALUE[,FIELD=VALUE]`` to pick one point of a
sweep (``runs/a@lr=0.001``); sweep points are named by their values everywhere.
"""

from __future__ import annotations

import math
import pathlib
import sys

from purejaxrl.cli.args import Parser, UsageError

RUN_HELP = "run directory, DIR@FIELD=VALUE for one point of a sweep (e.g. runs/a@lr=0.001)"
POOL_SEPARATOR = "+"  # compare runs/s0+runs/s1 ...: the seeds of runs of one config, pooled
SEEDS_LISTED = 32  # the summary table lists every seed up to this many


class RunSpecError(ValueError):
    """A run directory or sweep point that does not exist."""


# --------------------------------------------------------------------------- formatting


def format_return(value: float | None) -> str:
    """A return as people write it: two decimals; ``n/a`` for a missing (NaN/null) value."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.2f}"


def seeds_word(count: int) -> str:
    return f"{count} seed" if count == 1 else f"{count} seeds"


def seed_list(seeds: list[int]) -> str:
    shown = ", ".join(map(str, seeds[:10])) + (f" and {len(seeds) - 10} more" if len(seeds) > 10 else "")
    return ("seed " if len(seeds) == 1 else "seeds ") + shown


def statistics_line(entry: dict) -> str:
    """``IQM 480.20 [95% CI 470.10, 490.00], mean 478.90 +- 12.30 (std) over 15 of 16 seeds; ...``:
    the statistics over the seeds with a final return, the others counted by what went wrong."""
    count, total = entry.get("num_finite", entry["num_seeds"] - entry["num_nan"]), entry["num_seeds"]
    over = seeds_word(total) if count == total else f"{count} of {seeds_word(total)}"
    if count == 0:
        text = f"no final return: none of the {seeds_word(total)} has one"
    elif count == 1:
        text = f"final return {format_return(entry['mean'])} ({over})"
    else:
        iqm_low, iqm_high = entry["iqm_ci"]
        text = (f"IQM {format_return(entry['iqm'])} [95% CI {format_return(iqm_low)}, "
                f"{format_return(iqm_high)}], mean {format_return(entry['mean'])} "
                f"+- {format_return(entry['std'])} (std) over {over}")
    return text + "".join(f"; {part}" for part in missing_parts(entry))


def missing_parts(entry: dict) -> list[str]:
    """What became of the seeds without a final return: diverged, or no finished episode."""
    diverged = entry.get("diverged_seeds") or []
    without = entry.get("without_episodes_seeds")
    if without is None:  # a summary written before the two were told apart
        without = [i for i, v in enumerate(entry["final_returns"]) if v is None and i not in diverged]
    parts = []
    if diverged:
        parts.append(f"{len(diverged)} diverged (NaN/inf): {seed_list(diverged)}")
    if without:
        parts.append(f"{len(without)} finished no episode: {seed_list(without)}")
    return parts


def seed_cell(i: int, value: float | None, entry: dict) -> str:
    if value is not None and math.isfinite(value):
        return format_return(value)
    return "diverged" if i in (entry.get("diverged_seeds") or []) else "no episode"


def summary_lines(summary: dict) -> list[str]:
    """Final returns per seed (episodes in the last 10% of training) and their statistics, per sweep
    point (named by its values)."""
    from purejaxrl.config import point_label

    lines = []
    for entry in summary.get("sweep") or [{"point": None, **summary}]:
        if entry["point"] is not None:
            lines.append(f"sweep point {point_label(entry['point'])}")
        values = entry["final_returns"]
        listed = values if len(values) <= SEEDS_LISTED else values[:SEEDS_LISTED // 4]
        lines.append(f"  {'seed':>4}  {'final return':>12}")
        lines += [f"  {i:>4}  {seed_cell(i, v, entry):>12}" for i, v in enumerate(listed)]
        if len(listed) < len(values):
            lines.append(f"  ({len(values) - len(listed)} more seeds in summary.json)")
        lines.append("  " + statistics_line(entry))
    return lines


def print_summary(summary: dict) -> None:
    print("\n".join(summary_lines(summary)))


# --------------------------------------------------------------------------- run directories


def split_run_spec(spec: str) -> tuple[pathlib.Path, dict[str, float] | None]:
    """``"runs/a@lr=0.001,gamma=0.9"`` -> ``(Path("runs/a"), {"lr": 0.001, "gamma": 0.9})``; a
    directory that exists as written is taken whole."""
    path, at, point = spec.rpartition("@")
    if not at or pathlib.Path(spec).is_dir() or "=" not in point:
        return pathlib.Path(spec), None
    values = {}
    for part in point.split(","):
        name, _, value = part.partition("=")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            values[""] = math.nan
        if "" in values:
            raise RunSpecError(f"{spec}: a sweep point is FIELD=NUMBER[,FIELD=NUMBER], got {part!r}")
    return pathlib.Path(path), values


def run_points(record: dict) -> list[dict] | None:
    """The sweep points of a run (``config.json``'s values as given), ``None`` for no sweep."""
    from purejaxrl.config import grid_points

    return grid_points(record["sweep"]) if record.get("sweep") else None


def choose_point(run: pathlib.Path, points: list[dict] | None, wanted: dict | None,
                 required: bool) -> int | None:
    """The index of the point ``wanted`` names (values compared to 32-bit float precision); ``None``
    for a run without a sweep. With ``required``, a sweep must be given a point."""
    from purejaxrl.config import point_label

    choices = ", ".join(f"{run}@{point_label(p).replace(', ', ',')}" for p in points or [])
    if wanted is None:
        if points is not None and required:
            raise RunSpecError(f"{run} is a sweep of {len(points)} points; pick one: {choices}")
        return None
    if points is None:
        raise RunSpecError(f"{run} is not a sweep; drop '@{point_label(wanted)}'")
    for index, point in enumerate(points):
        if set(point) == set(wanted) and all(math.isclose(point[k], wanted[k], rel_tol=1e-6) for k in point):
            return index
    raise RunSpecError(f"{run} has no sweep point {point_label(wanted)}; its points: {choices}")


def read_json(path: pathlib.Path, what: str) -> dict:
    import json

    if not path.exists():
        raise RunSpecError(f"{path.parent} has no {path.name} ({what})")
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunSpecError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise RunSpecError(f"{path} does not hold a JSON object")
    return value


# --------------------------------------------------------------------------- commands


def plot_command(argv: list[str]) -> int:
    """``purejaxrl plot DIR... [-o FILE]``: learning curves of one or more runs in one figure."""
    parser = Parser(prog="purejaxrl plot", description="IQM learning curves of runs (and sweep "
                    "points) in one PNG; diverged seeds are left out and counted in the legend.")
    parser.add_argument("runs", nargs="+", help=RUN_HELP)
    parser.add_argument("-o", "--output", default="learning_curves.png")
    args = parser.parse_args(argv)
    import warnings

    from purejaxrl.plots import plot_learning_curves, run_curves
    from purejaxrl.rundir import read_metrics, read_record

    curves = {}
    for spec in args.runs:
        try:
            run, wanted = split_run_spec(spec)
            record = read_record(run)
            points = run_points(record)
            chosen = choose_point(run, points, wanted, required=False)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                metrics = read_metrics(run)
            for warning in caught:
                print(f"warning: {warning.message}", file=sys.stderr)
        except (FileNotFoundError, ValueError) as error:
            raise UsageError(error) from None
        curves.update(run_curves(metrics, points, spec if wanted is None else str(run), chosen))
    path = plot_learning_curves(curves, args.output)
    print(f"wrote {path}")
    return 0


def eval_command(argv: list[str]) -> int:
    """``purejaxrl eval DIR``: the newest checkpoint's deterministic policies, fresh episodes."""
    parser = Parser(prog="purejaxrl eval", description="Deterministic-policy returns of a run's newest "
                    "checkpoint, per seed and sweep point.")
    parser.add_argument("run", help=RUN_HELP)
    parser.add_argument("--episodes", type=int, default=16, help="episodes per seed (default: 16)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the evaluation episodes")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        raise UsageError(f"--episodes must be at least 1, got {args.episodes}")
    import numpy as np

    from purejaxrl.config import point_label
    from purejaxrl.evaluation import evaluate
    from purejaxrl.runner import load, read_run

    try:
        run, wanted = split_run_spec(args.run)
        algo, _, record = read_run(run)
        points = run_points(record)
        chosen = choose_point(run, points, wanted, required=False)
        config, state, rows = load(algo, run)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(error) from None
    import jax

    name = algo.__name__.rsplit(".", 1)[-1]
    returns = evaluate(algo, config, state, jax.random.key(args.seed), args.episodes)
    returns = np.asarray(returns, np.float64)
    ended = np.isfinite(returns)
    per_agent = np.where(ended.any(-1), np.where(ended, returns, 0).sum(-1) / np.maximum(ended.sum(-1), 1),
                         np.nan).reshape(-1, record["seeds"])
    print(f"{run}: {name} on {config.env}, checkpoint after {rows} log rows, "
          f"{args.episodes} deterministic episodes per seed")
    for p, row in enumerate(per_agent):
        if chosen is not None and p != chosen:
            continue
        label = "" if points is None else f"{point_label(points[p])}: "
        finite = row[np.isfinite(row)]
        mean = format_return(float(finite.mean())) if finite.size else "n/a"
        print(f"  {label}mean return per seed [{', '.join(format_return(float(v)) for v in row)}], "
              f"mean {mean}" + ("" if finite.size == row.size else
                                 f" over {finite.size} of {seeds_word(row.size)}"))
    return 0


def render_command(argv: list[str]) -> int:
    """``purejaxrl render DIR``: one deterministic episode of the newest checkpoint as a GIF
    (gymnax classic control, MinAtar) or Brax's HTML viewer (Brax, MJX)."""
    parser = Parser(prog="purejaxrl render", description="One deterministic episode of a run's newest "
                    "checkpoint as a GIF (gymnax, MinAtar) or an HTML viewer (Brax, MJX).")
    parser.add_argument("run", help=RUN_HELP)
    parser.add_argument("-o", "--output", default=None,
                        help="file to write (default: DIR/render.gif or DIR/render.html)")
    parser.add_argument("--seed-index", type=int, default=0,
                        help="which seed (of the point given with DIR@FIELD=VALUE); without a point, "
                             "point * seeds + seed in a sweep (default: 0)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="steps to record at most (default: the environment's time limit)")
    parser.add_argument("--key", type=int, default=0, help="seed of the episode")
    parser.add_argument("--fps", type=float, default=None, help="GIF frames per second")
    parser.add_argument("--every", type=int, default=1, help="draw every N-th step")
    args = parser.parse_args(argv)
    from purejaxrl.config import point_label
    from purejaxrl.render import render
    from purejaxrl.rundir import read_record

    try:
        run, wanted = split_run_spec(args.run)
        record = read_record(run)
        points = run_points(record)
        chosen = choose_point(run, points, wanted, required=False)
        seeds, index = record["seeds"], args.seed_index
        if chosen is not None:
            if not 0 <= index < seeds:
                raise RunSpecError(f"--seed-index {index} is out of range: the point has {seeds_word(seeds)}")
            index = chosen * seeds + index
        path = render(run, args.output, seed_index=index, max_steps=args.max_steps,
                      key=args.key, fps=args.fps, every=args.every)
    except (FileNotFoundError, IndexError, ValueError, KeyError) as error:
        raise UsageError(error) from None
    which = f"seed {index % seeds}" + ("" if points is None else f" of {point_label(points[index // seeds])}")
    print(f"wrote {path} ({which})")
    return 0


def compare_command(argv: list[str]) -> int:
    """``purejaxrl compare A B``: both runs' final returns and P(A > B) with a bootstrap CI."""
    parser = Parser(prog="purejaxrl compare", description="Final returns of two finished runs (or sweep "
                    "points) on the same environment and the probability of improvement P(A > B), "
                    "over the seeds with a final return. A side may pool the seeds of several runs of "
                    "one config: runs/s0+runs/s1.")
    parser.add_argument("run_a", help=RUN_HELP + "; A1+A2+... pools the seeds of runs of one config "
                        "started with different --seed")
    parser.add_argument("run_b", help="the same, for B")
    args = parser.parse_args(argv)
    try:
        sides = [comparison_side(spec) for spec in (args.run_a, args.run_b)]
        check_comparable(*sides)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(error) from None
    import numpy as np

    from purejaxrl.stats import probability_of_improvement

    for side in sides:
        print(f"{side['name']}: {side['algorithm']} on {side['env']}, {side['env_steps']:,} env steps")
        print_summary(side["summary"])
    (budget_a, budget_b) = (side["env_steps"] for side in sides)
    if budget_a != budget_b:
        print(f"note: the budgets differ: {budget_a:,} env steps against {budget_b:,}")
    finals = []
    for side in sides:
        values = np.array([np.nan if v is None else v for v in side["summary"]["final_returns"]], np.float64)
        finals.append(values[np.isfinite(values)])
        if finals[-1].size < values.size:
            print(f"note: {side['name']}: P is over {finals[-1].size} of its {seeds_word(values.size)}; "
                  + "; ".join(missing_parts(side["summary"])))
    if not all(f.size for f in finals):
        empty = next(side["name"] for side, f in zip(sides, finals) if not f.size)
        raise UsageError(f"{empty} has no seed with a final return; nothing to compare")
    point, low, high = probability_of_improvement(finals[0], finals[1])
    a, b = (side["name"] for side in sides)
    print(f"P({a} > {b}) = {point:.3f} [95% CI {low:.3f}, {high:.3f}] "
          f"({seeds_word(finals[0].size)} against {seeds_word(finals[1].size)})")
    return 0


def comparison_side(spec: str) -> dict:
    """One side of ``compare``: its name, algorithm, environment, budget and summary (one point);
    ``A+B+...`` pools the seeds of several runs of one config (``pooled_side``)."""
    parts = [spec] if pathlib.Path(spec).is_dir() else spec.split(POOL_SEPARATOR)
    sides = [run_side(part) for part in parts]
    return sides[0] if len(sides) == 1 else pooled_side(spec, sides)


def run_side(spec: str) -> dict:
    """One finished run (or sweep point) as a side of ``compare``."""
    from purejaxrl.rundir import read_record, recorded_algorithm

    run, wanted = split_run_spec(spec)
    record = read_record(run)
    summary = read_json(run / "summary.json", "not a finished run: resume it to the end first")
    points = run_points(record)
    chosen = choose_point(run, points, wanted, required=True)
    config = record.get("config", {})
    return {"name": spec, "algorithm": recorded_algorithm(record),
            "env": config.get("env"), "env_kwargs": config.get("env_kwargs") or [],
            "env_steps": int(summary["env_steps"]), "config": config, "seed": record.get("seed"),
            "point": None if chosen is None else points[chosen],
            "summary": summary if chosen is None else summary["sweep"][chosen]}


def pooled_side(name: str, sides: list[dict]) -> dict:
    """The seeds of several runs of one config as one side (``runs/s0+runs/s1``: seeds trained in
    separate processes, e.g. when all of them do not fit in memory at once). Refused unless the
    runs share algorithm, config, sweep point and budget and have different base seeds (``--seed``):
    runs of one base seed train the same seed keys, ``split(key(seed), seeds)``."""
    import numpy as np

    from purejaxrl.runner import seed_statistics

    first = sides[0]
    for side in sides[1:]:
        differ = [key for key in ("algorithm", "point", "env_steps") if side[key] != first[key]]
        differ += sorted(key for key in set(side["config"]) | set(first["config"])
                         if side["config"].get(key) != first["config"].get(key))
        if differ:
            raise RunSpecError(f"{first['name']} and {side['name']} differ in {', '.join(differ)}: seeds are "
                               "pooled only from runs of one config")
    bases = [side["seed"] for side in sides]
    repeated = next((seed for seed in bases if bases.count(seed) > 1), None)
    if repeated is not None:
        raise RunSpecError(f"{name} pools runs of the same base seed {repeated}, which trained the same seed "
                           "keys; pool runs started with different --seed")
    finals, diverged = [], []
    for side in sides:
        values = side["summary"]["final_returns"]
        bad = set(side["summary"].get("diverged_seeds") or [])
        finals += [np.nan if v is None else v for v in values]
        diverged += [i in bad for i in range(len(values))]
    summary = seed_statistics(np.array(finals, np.float64), np.array(diverged, bool))
    return {**first, "name": name, "summary": summary}


def check_comparable(a: dict, b: dict) -> None:
    """Final returns of different environments (or environment settings) are not comparable."""
    if (a["env"], a["env_kwargs"]) != (b["env"], b["env_kwargs"]):
        def env(side: dict) -> str:
            return side["env"] + (f" {side['env_kwargs']}" if side["env_kwargs"] else "")

        raise RunSpecError(f"{a['name']} ran on {env(a)} and {b['name']} on {env(b)}: returns on "
                           "different environments are not comparable")
