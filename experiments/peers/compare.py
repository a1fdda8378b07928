"""Time purejaxrl against rejax 0.1.3 on the same PPO and SAC configurations, side by side.

Setup (once): rejax needs ``gymnax<1.0``, so it lives in its own virtual environment,
never in the project's (see ``experiments/peers/README.md``):

    python3.11 -m venv /work/peer_venvs/rejax
    /work/peer_venvs/rejax/bin/pip install rejax==0.1.3 jax==0.10.2 jaxlib==0.10.2

Then, from the project's environment:

    python experiments/peers/compare.py [--algo ppo sac] [--rounds 3]
        [--rejax-python /work/peer_venvs/rejax/bin/python] [--cpu-threads N] [--markdown PATH]

Each framework runs in its own long-lived process (``worker.py``): both compile first
(compile time is reported, not counted), then the coordinator asks them for one run at
a time, alternating ``purejaxrl, rejax, purejaxrl, rejax, ...`` so that both see the
same machine load, and keeps each one's best of ``--rounds`` runs. Only one program
runs at any moment. ``--cpu-threads N`` starts both sides' XLA:CPU with N pool threads
(``purejaxrl.cpu_threads``); by default both use one per CPU.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import platform
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
MARKER = "RESULT "  # worker.py's prefix for its replies
DEFAULT_REJAX_PYTHON = "/work/peer_venvs/rejax/bin/python"
NAMES = {"ppo": "PPO, CartPole-v1, 4 envs x 128 steps, 499,712 steps",
         "sac": "SAC, Pendulum-v1, 1 env, 20,000 steps"}


class Worker:
    """A ``worker.py`` process that has compiled its framework's training program."""

    def __init__(self, python: str, framework: str, algo: str, cpu_threads: int | None):
        self.framework = framework
        threads = [] if cpu_threads is None else ["--cpu-threads", str(cpu_threads)]
        self.process = subprocess.Popen(
            [python, str(HERE / "worker.py"), "--framework", framework, "--algo", algo, *threads],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HERE)
        self.compiled = self._reply()

    def _reply(self) -> dict:
        for line in self.process.stdout:
            if line.startswith(MARKER):
                return json.loads(line[len(MARKER):])
        raise SystemExit(f"{self.framework} worker exited (code {self.process.wait()}); see its stderr above")

    def run(self) -> float:
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        return self._reply()["run_s"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def compare(algo: str, rounds: int, rejax_python: str, cpu_threads: int | None) -> dict:
    """Compile both sides, then ``rounds`` alternating runs; each side's best and all runs."""
    workers = [Worker(sys.executable, "purejaxrl", algo, cpu_threads),
               Worker(rejax_python, "rejax", algo, cpu_threads)]
    runs = {w.framework: [] for w in workers}
    try:
        for _ in range(rounds):
            for worker in workers:
                runs[worker.framework].append(worker.run())
    finally:
        for worker in workers:
            worker.close()
    steps = workers[0].compiled["env_steps"]
    result = {"algo": algo, "env_steps": steps, "jax": workers[0].compiled["jax"], "cpu_threads": cpu_threads}
    for worker in workers:
        best = min(runs[worker.framework])
        result[worker.framework] = {"compile_s": worker.compiled["compile_s"], "best_s": best,
                                    "runs_s": runs[worker.framework], "steps_per_s": steps / best}
    result["speedup"] = result["rejax"]["best_s"] / result["purejaxrl"]["best_s"]
    return result


def table(results: list[dict], rounds: int) -> str:
    lines = [f"machine: {platform.processor() or platform.machine()}, {_cores()} cores, "
             f"jax {results[0]['jax']}, {datetime.date.today().isoformat()}; "
             f"best of {rounds} alternating runs, "
             "compile excluded, XLA:CPU pool threads: "
             f"{results[0]['cpu_threads'] or 'one per CPU (default)'}", "",
             "| configuration | framework | compile (s) | runs (s) | best (s) | env steps/s "
             "| purejaxrl speed-up |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        for framework in ("purejaxrl", "rejax"):
            side = r[framework]
            runs = ", ".join(f"{s:.2f}" for s in side["runs_s"])
            speedup = f"**{r['speedup']:.2f}x**" if framework == "purejaxrl" else ""
            lines.append(f"| {NAMES[r['algo']]} | {framework} | {side['compile_s']:.2f} | {runs} | "
                         f"{side['best_s']:.2f} | {side['steps_per_s']:,.0f} | {speedup} |")
    return "\n".join(lines)


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", nargs="+", choices=("ppo", "sac"), default=["ppo", "sac"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rejax-python", default=DEFAULT_REJAX_PYTHON)
    parser.add_argument("--cpu-threads", type=int, default=None,
                        help="XLA:CPU pool threads for both frameworks (default: one per CPU)")
    parser.add_argument("--markdown", type=pathlib.Path, default=None, help="also write the table here")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not pathlib.Path(args.rejax_python).exists():
        parser.error(f"--rejax-python {args.rejax_python} does not exist; "
                     "see the setup in this file's docstring")
    results = [compare(algo, args.rounds, args.rejax_python, args.cpu_threads) for algo in args.algo]
    text = table(results, args.rounds)
    print(text)
    if args.markdown is not None:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
