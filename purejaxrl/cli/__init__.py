"""The ``purejaxrl`` command line.

    purejaxrl train ppo --env CartPole-v1 --seeds 16 [--lr 3e-4 ...] [--out DIR] [--sweep.lr 1e-3 3e-4]
    purejaxrl train ppo --resume DIR
    purejaxrl train ppo --objective lpo --drift-params NAME|FILE.npz
    purejaxrl eval DIR [--episodes N]
    purejaxrl render DIR [-o FILE] [--seed-index I] [--max-steps N] [--key K] [--fps F] [--every N]
    purejaxrl plot DIR [DIR ...] [-o FILE]
    purejaxrl compare DIR_A DIR_B
    purejaxrl meta lpo --env CartPole-v1 --generations 32 --population 32 --out DIR [--ppo.FIELD V ...]
    purejaxrl envs
    purejaxrl algos

Every ``Config`` field of the algorithm is a flag (from its dataclass, via tyro).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.abc
import io
import os
import pathlib
import sys
import warnings

from purejaxrl.cli.args import Parser, UsageError, one_line
from purejaxrl.cli.meta import meta_command
from purejaxrl.cli.results import compare_command, eval_command, plot_command, render_command
from purejaxrl.cli.train import config_from_file, split_sweep_flags, train_command

__all__ = ["ALGORITHM_TABLE", "ENV_IDS", "config_from_file", "main", "split_sweep_flags"]

# ``purejaxrl algos``: (name, command, one-line summary); ``trainable_algorithms`` reads the names
# ``train`` accepts from it. Kept in step with ``purejaxrl.algorithms`` by tests/test_cli_transcript.py
# (a table, so that listing them imports no JAX program).
ALGORITHM_TABLE = (
    ("ppo", "train ppo", "Proximal Policy Optimisation (Schulman et al., 2017), discrete and continuous "
                         "actions; --objective clip (PPO), dpo (DPO) or lpo (a learned drift)"),
    ("sac", "train sac", "Soft Actor-Critic (Haarnoja et al., 2018), continuous and discrete actions "
                         "(Christodoulou, 2019)"),
    ("dqn", "train dqn", "DQN (Mnih et al., 2015) with double-DQN targets (van Hasselt et al., 2016), "
                         "discrete actions"),
    ("c51", "train dqn --variant c51", "C51: a categorical return distribution (Bellemare et al., 2017), "
                                       "discrete actions"),
    ("qrdqn", "train dqn --variant qrdqn", "QR-DQN: quantile regression of returns (Dabney et al., 2018), "
                                           "discrete actions"),
    ("mrq", "train mrq", "MR.Q: model-based representations for Q-learning (Fujimoto et al., ICLR 2025), "
                         "continuous and discrete actions"),
    ("lpo", "meta lpo", "meta-learn PPO's objective (an LPO drift, Lu et al., 2022) with evolution "
                        "strategies; train with it: train ppo --drift-params FILE"),
)

# ``purejaxrl envs``: every id ``purejaxrl.envs.names()`` lists, without importing gymnax, Brax or
# MuJoCo (seconds); tests/test_cli_transcript.py checks the two agree.
ENV_IDS = (
    "CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0",
    "Asterix-MinAtar", "Breakout-MinAtar", "Freeway-MinAtar", "Seaquest-MinAtar", "SpaceInvaders-MinAtar",
    "Catch-bsuite", "DeepSea-bsuite", "MemoryChain-bsuite", "UmbrellaChain-bsuite", "DiscountingChain-bsuite",
    "MNISTBandit-bsuite", "SimpleBandit-bsuite", "FourRooms-misc", "MetaMaze-misc", "PointRobot-misc",
    "BernoulliBandit-misc", "GaussianBandit-misc", "Reacher-misc", "Swimmer-misc", "Pong-misc",
    "FrozenLake-misc", "CartPole-NoVel-v1", "Pendulum-NoVel-v1", "MaskedChain-v0",
    "brax/ant", "brax/fast", "brax/halfcheetah", "brax/hopper", "brax/humanoid",
    "brax/humanoidstandup", "brax/inverted_pendulum", "brax/inverted_double_pendulum", "brax/pusher",
    "brax/reacher", "brax/walker2d", "mjx/pendulum_swingup", "mjx/cartpole_swingup", "mjx/reacher",
)

# third-party output nobody asked for: (module whose import prints to stdout, warning messages)
NOISY_IMPORTS = ("mujoco.mjx.warp",)  # "Failed to import warp/mujoco_warp" without the optional warp
NOISY_WARNINGS = (
    "Brax System, piplines and environments are not actively being maintained",
    "JAXopt is no longer maintained",
)


def trainable_algorithms() -> tuple[str, ...]:
    """The names ``purejaxrl train`` accepts (``purejaxrl.algorithms.ALGORITHMS``), from the table."""
    return tuple(dict.fromkeys(command.split()[1] for _, command, _ in ALGORITHM_TABLE
                               if command.startswith("train ")))


class QuietImports(importlib.abc.MetaPathFinder):
    """Imports the modules ``names`` with their stdout swallowed (``mujoco.mjx.warp`` prints
    "Failed to import warp" whenever the optional ``warp`` package is missing)."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names

    def find_spec(self, fullname, path, target=None):
        if fullname not in self.names:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = QuietLoader(spec.loader)
                return spec
        return None


class QuietLoader(importlib.abc.Loader):
    """A loader that runs another loader's ``exec_module`` with stdout swallowed."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            self.loader.exec_module(module)


def silence_third_party_noise() -> None:
    """No "Failed to import warp" lines and no Brax maintenance warning on every command (other
    warnings still show)."""
    if not any(isinstance(finder, QuietImports) for finder in sys.meta_path):
        sys.meta_path.insert(0, QuietImports(NOISY_IMPORTS))
    for message in NOISY_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


def envs_command(argv: list[str]) -> int:
    parser = cli_parser("purejaxrl envs", "List the environment ids, one per line.")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="also each environment's observation and action spaces (makes every "
                             "environment: slow)")
    args = parser.parse_args(argv)
    if not args.verbose:
        print("\n".join(ENV_IDS))
        return 0
    from purejaxrl import envs

    for env_id in envs.names():
        print(f"{env_id:32} {env_spaces(envs, env_id)}", flush=True)
    return 0


def env_spaces(envs, env_id: str) -> str:
    """``observation Box(4,), action Discrete(2)`` (or why the environment cannot be made)."""
    try:
        env, params = envs.make(env_id)
        return (f"observation {describe_space(env.observation_space(params))}, "
                f"action {describe_space(env.action_space(params))}")
    except Exception as error:  # noqa: BLE001 - a listing goes on past one broken environment
        return f"cannot be made here: {' '.join(str(error).split())[:120]}"


def describe_space(space) -> str:
    """``Discrete(2)`` or ``Box(3,)``."""
    if hasattr(space, "n") and not hasattr(space, "low"):
        return f"Discrete({space.n})"
    if hasattr(space, "shape"):
        return f"Box{tuple(space.shape)}"
    return type(space).__name__


def algos_command(argv: list[str]) -> int:
    cli_parser("purejaxrl algos", "List the algorithms and how to train each.").parse_args(argv)
    for name, command, summary in ALGORITHM_TABLE:
        print(f"{name:6} purejaxrl {command:26} {summary}")
    return 0


def cli_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An ``argparse`` parser whose mistakes are one ``UsageError`` line."""
    return Parser(prog=prog, description=description)


def bench_command(argv: list[str]) -> int:
    from purejaxrl import benchmark

    parser = cli_parser("purejaxrl bench", benchmark.__doc__.splitlines()[0])
    cases = list(benchmark.BENCH_CASES)
    parser.add_argument("--algo", nargs="+", default=cases, choices=cases,
                        help="algorithms to time (default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 16, 256, 1024],
                        help="seed counts, each one vmapped program (default: 1 16 256 1024)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell; the best is kept")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds a cell may take before it is skipped")
    parser.add_argument("--markdown", type=pathlib.Path, default=None,
                        help="also write the table to this file")
    args = parser.parse_args(argv)
    try:
        rows = benchmark.run_benchmark(args.algo, args.seeds, args.repeats, args.timeout,
                                       progress=lambda line: print(line, file=sys.stderr, flush=True))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table = benchmark.markdown(rows, args.repeats)
    print(table)
    if args.markdown is not None:
        args.markdown.write_text(table + "\n")
    return 0


COMMANDS = {"train": train_command, "eval": eval_command, "render": render_command, "plot": plot_command,
            "compare": compare_command, "meta": meta_command, "envs": envs_command, "algos": algos_command,
            "bench": bench_command}


MAIN_HELP = """usage: purejaxrl {train,eval,render,plot,compare,meta,envs,algos,bench} ...

  train ALGO  train seeds (x sweep points) in one vmapped call, print final returns
  eval DIR    deterministic-policy returns of a run's newest checkpoint
  render DIR  one deterministic episode as a GIF or an HTML viewer
  plot DIR..  learning curves of run directories in one PNG
  compare A B final returns of two runs and P(A > B)
  meta lpo    meta-learn a PPO objective (LPO drift) with evolution strategies
  envs        list environment ids (--verbose: with their spaces)
  algos       list algorithms and variants, with the command that trains each
  bench       training throughput, compile time and memory at 1 to 1,024 seeds

purejaxrl train ALGO --help lists every config field of ALGO with its meaning and default;
purejaxrl COMMAND --help explains the other commands. Mistakes end in one "error: ..." line
(exit status 2); Ctrl-C stops training with exit status 130."""


def main(argv: list[str] | None = None) -> int:
    """The ``purejaxrl`` command: a user mistake is one ``error: ...`` line on stderr and exit status 2,
    Ctrl-C exit status 130; only internal bugs show a traceback."""
    if argv is None:  # the process's own command line
        warnings.showwarning = show_warning_as_one_line
        return exit_promptly_if_interrupted(main(sys.argv[1:]))
    silence_third_party_noise()
    if not argv or argv[0] in ("-h", "--help"):
        print(MAIN_HELP, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    try:
        return run_command(argv)
    except UsageError as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # ``purejaxrl envs | head -1``: the reader left; not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python's own recipe (signal docs)
        return 0


def show_warning_as_one_line(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning at the command line: ``warning: <message>`` (Python's default adds the file, line
    number and source line of the library that warned)."""
    print(f"warning: {one_line(message)}", file=sys.stderr if file is None else file)


def exit_promptly_if_interrupted(status: int) -> int:
    """After Ctrl-C (status 130) end the process at once: XLA may still be compiling on its own
    threads, and waiting for them at interpreter shutdown hung or crashed the process."""
    if status == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def run_command(argv: list[str]) -> int:
    """``argv[0]``'s command on the rest of ``argv``, with ``PUREJAXRL_CPU_THREADS`` applied."""
    from purejaxrl.cli.train import did_you_mean

    command = COMMANDS.get(argv[0])
    if command is None:
        raise UsageError(f"unknown command {argv[0]!r}{did_you_mean(argv[0], COMMANDS)} "
                         f"(choose one of: {', '.join(COMMANDS)})")
    from purejaxrl.cpu_threads import cpu_threads_from_env, limit_cpu_threads

    try:
        threads = cpu_threads_from_env()
    except ValueError as error:
        raise UsageError(str(error)) from None
    if threads is not None and command is not bench_command:  # bench's cells read it themselves
        limit_cpu_threads(threads)
    return command(argv[1:])
