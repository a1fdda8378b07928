"""Reading finished runs: ``eval``, ``render``, ``plot``, ``compare`` and the summary table."""

from __future__ import annotations

import argparse
import sys


def print_summary(summary: dict) -> None:
    """Final returns per seed (episodes in the last 10% of training) and their statistics."""
    points = summary.get("sweep") or [{"point": None, **summary}]
    for entry in points:
        if entry["point"] is not None:
            print("sweep point " + ", ".join(f"{k}={v:g}" for k, v in entry["point"].items()))
        print(f"  {'seed':>4}  {'final return':>12}")
        for i, value in enumerate(entry["final_returns"]):
            print(f"  {i:>4}  {value:>12.2f}")
        low, high = entry["iqm_ci"]
        print(f"  mean {entry['mean']:.2f} +- {entry['std']:.2f} (std), IQM {entry['iqm']:.2f} "
              f"[95% CI {low:.2f}, {high:.2f}], {entry['num_seeds']} seeds "
              f"({entry['num_nan']} without episodes)")
        if entry.get("diverged_seeds"):
            print(f"  diverged (NaN/inf losses): seeds {entry['diverged_seeds']}")


def plot_command(argv: list[str]) -> int:
    """``purejaxrl plot DIR... [-o FILE]``: learning curves of one or more runs in one figure."""
    parser = argparse.ArgumentParser(prog="purejaxrl plot")
    parser.add_argument("runs", nargs="+")
    parser.add_argument("-o", "--output", default="learning_curves.png")
    args = parser.parse_args(argv)
    from purejaxrl.plots import plot_learning_curves
    from purejaxrl.rundir import read_metrics

    curves = {}
    for run in args.runs:
        try:
            metrics = read_metrics(run)
        except (FileNotFoundError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        returns = metrics["episode_return"].reshape(-1, *metrics["episode_return"].shape[-2:])
        steps = metrics["env_steps"].reshape(-1, metrics["env_steps"].shape[-1])[0]
        for i, per_point in enumerate(returns):
            curves[run if len(returns) == 1 else f"{run} [{i}]"] = (steps, per_point)
    path = plot_learning_curves(curves, args.output)
    print(f"wrote {path}")
    return 0


def eval_command(argv: list[str]) -> int:
    """``purejaxrl eval DIR``: the newest checkpoint's deterministic policies, fresh episodes."""
    parser = argparse.ArgumentParser(prog="purejaxrl eval")
    parser.add_argument("run")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0, help="seed of the evaluation episodes")
    args = parser.parse_args(argv)
    import numpy as np

    from purejaxrl.evaluation import evaluate
    from purejaxrl.runner import load, read_run

    try:
        algo, _, record = read_run(args.run)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    name = algo.__name__.rsplit(".", 1)[-1]
    config, state, rows = load(algo, args.run)
    import jax

    returns = evaluate(algo, config, state, jax.random.key(args.seed), args.episodes)
    per_agent = np.nanmean(returns, axis=-1).reshape(-1, record["seeds"])
    print(f"{args.run}: {name} on {config.env}, checkpoint after {rows} log rows, "
          f"{args.episodes} deterministic episodes per seed")
    for p, row in enumerate(per_agent):
        label = f"sweep point {p}: " if len(per_agent) > 1 else ""
        print(f"  {label}mean return per seed {np.round(row, 2).tolist()}, mean {np.nanmean(row):.2f}")
    return 0


def render_command(argv: list[str]) -> int:
    """``purejaxrl render DIR``: one deterministic episode of the newest checkpoint as a GIF
    (gymnax classic control, MinAtar) or Brax's HTML viewer (Brax, MJX)."""
    parser = argparse.ArgumentParser(prog="purejaxrl render")
    parser.add_argument("run")
    parser.add_argument("-o", "--output", default=None,
                        help="file to write (default: DIR/render.gif or DIR/render.html)")
    parser.add_argument("--seed-index", type=int, default=0,
                        help="which agent: the seed, or point * seeds + seed in a sweep (default: 0)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="steps to record at most (default: the environment's time limit)")
    parser.add_argument("--key", type=int, default=0, help="seed of the episode")
    parser.add_argument("--fps", type=float, default=None, help="GIF frames per second")
    parser.add_argument("--every", type=int, default=1, help="draw every N-th step")
    args = parser.parse_args(argv)
    from purejaxrl.render import render

    try:
        path = render(args.run, args.output, seed_index=args.seed_index, max_steps=args.max_steps,
                      key=args.key, fps=args.fps, every=args.every)
    except (FileNotFoundError, IndexError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def compare_command(argv: list[str]) -> int:
    """``purejaxrl compare A B``: both runs' final returns and P(A > B) with a bootstrap CI."""
    parser = argparse.ArgumentParser(prog="purejaxrl compare")
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    args = parser.parse_args(argv)
    import json
    import pathlib

    import numpy as np

    from purejaxrl.stats import probability_of_improvement

    finals = []
    for run in (args.run_a, args.run_b):
        summary_file = pathlib.Path(run) / "summary.json"
        if not summary_file.exists():
            print(f"error: {run} has no summary.json (not a finished run)", file=sys.stderr)
            return 2
        summary = json.loads(summary_file.read_text())
        if summary.get("sweep"):
            print(f"error: {run} is a sweep; compare single configurations", file=sys.stderr)
            return 2
        print(f"{run}:")
        print_summary(summary)
        values = np.array([np.nan if v is None else v for v in summary["final_returns"]], np.float64)
        finals.append(values[~np.isnan(values)])
    point, low, high = probability_of_improvement(finals[0], finals[1])
    print(f"P({args.run_a} > {args.run_b}) = {point:.3f} [95% CI {low:.3f}, {high:.3f}]")
    return 0


