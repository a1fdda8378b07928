"""``purejaxrl train ALGO``: seeds (x sweep points) of one algorithm through ``purejaxrl.run``.

    purejaxrl train ppo --env CartPole-v1 --seeds 16 [--lr 3e-4 ...] [--out DIR] [--sweep.lr 1e-3 3e-4]
    purejaxrl train ppo --resume DIR
    purejaxrl train ppo --objective lpo --drift-params NAME|FILE.npz

Every ``Config`` field of the algorithm is a flag (from its dataclass, via tyro). Flag names, sweeps
and ``--resume`` are checked against the ``Config`` fields read from the algorithm's source
(``config_fields``) before JAX programs are imported, so a mistake is answered at once. Every user
mistake raises ``UsageError``, which ``main`` prints as one ``error: ...`` line (exit status 2).
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import difflib
import importlib.util
import io
import itertools
import pathlib
import re
import sys
import time
import traceback

from purejaxrl.cli.args import Parser, UsageError
from purejaxrl.cli.results import print_summary, seeds_word

TRAIN_USAGE = ("usage: purejaxrl train ALGORITHM [--seeds N] [--seed S] [--out DIR] "
               "[--resume DIR [--fallback]] [--sweep.FIELD V1 V2 ...] [--checkpoint-every ROWS] "
               "[--check-finite] [--no-cache] [--no-progress] "
               "[--config FILE] [--wandb-project NAME] "
               "[--distributed | --coordinator HOST:PORT --num-processes N --process-id I] [config flags]")

RUNNER_HELP = """runner flags:
  --seeds INT             seeds, trained in one vmapped call (default: 1)
  --seed INT              base seed the keys are split from (default: 0)
  --out DIR               run directory: metrics, checkpoints, summary, plot
  --resume DIR            continue the run in DIR from its newest checkpoint, with the algorithm,
                          config, seeds and sweep it recorded (ALGORITHM may be left out); flags
                          that would change the run are refused. Allowed with it: --fallback,
                          --checkpoint-every, --check-finite, --no-cache, --no-progress,
                          --wandb-*, --distributed and its flags
  --fallback              with --resume: if the newest checkpoint is damaged, move it aside
                          and continue from the newest intact one (default: stop with an error)
  --sweep.FIELD V1 V2 ..  a grid over a traced (numeric, not static) config field; repeat the
                          flag for more fields; --sweep.FIELD=V works too, and giving the same
                          field twice adds the values to its list
  --checkpoint-every INT  log rows between checkpoints (default: a tenth of the run)
  --check-finite          check losses and parameters after every update; stop at the first
                          NaN/inf naming seed, sweep point and update (exit status 1)
  --no-cache              do not use the persistent compilation cache
  --no-progress           no progress bar
  --config FILE           a JSON file of Config fields (presets in experiments/configs/);
                          flags override it
  --wandb-project NAME    also log to Weights & Biases (pip install 'purejaxrl[wandb]');
                          offline unless an API key is configured or --wandb-mode online
  --wandb-entity NAME, --wandb-mode online|offline|disabled
  --distributed           one run over several processes; Slurm, Open MPI and TPU pods
                          are detected (jax.distributed.initialize)
  --coordinator HOST:PORT, --num-processes N, --process-id I
                          the same, set by hand (process 0 listens on HOST:PORT)
Ctrl-C stops a run (exit status 130) and prints the command that resumes it."""

# runner flags that do not change what a resumed run computes (see RUNNER_HELP)
RESUME_COMPATIBLE = {"resume", "fallback", "checkpoint_every", "check_finite", "no_cache", "no_progress",
                     "wandb_project", "wandb_entity", "wandb_mode", "distributed", "coordinator",
                     "num_processes", "process_id"}

SWEEPABLE_TYPES = {"float", "int", "float | None"}  # what a sweep's numbers can stand for


@dataclasses.dataclass(frozen=True)
class ConfigField:
    """One ``Config`` field as its source declares it: type annotation, ``static(...)`` or traced,
    and its attribute docstring (``None`` if it has none)."""

    name: str
    annotation: str
    static: bool
    doc: str | None


def _algorithms():
    from purejaxrl.algorithms import ALGORITHMS

    return ALGORITHMS


def algorithm_names() -> tuple[str, ...]:
    """The algorithms ``train`` knows, without importing them (``purejaxrl.cli.ALGORITHM_TABLE``)."""
    from purejaxrl.cli import trainable_algorithms

    return trainable_algorithms()


def algorithm_source(name: str) -> pathlib.Path:
    """``algorithms/<name>.py``, found without importing the package (which imports JAX programs)."""
    spec = importlib.util.find_spec("purejaxrl.algorithms")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / f"{name}.py"


def config_fields(name: str) -> dict[str, ConfigField]:
    """The fields of algorithm ``name``'s ``Config`` in order, read from its source with ``ast``
    (fast: nothing is imported); ``tests/test_cli_transcript.py`` checks them against the class."""
    tree = ast.parse(algorithm_source(name).read_text())
    config = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Config")
    fields = {}
    for node, after in zip(config.body, config.body[1:] + [None]):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        static = (isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
                  and node.value.func.id == "static")
        doc = None
        if (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            doc = after.value.value
        fields[node.target.id] = ConfigField(node.target.id, ast.unparse(node.annotation), static, doc)
    return fields


def did_you_mean(word: str, candidates, prefix: str = "") -> str:
    """``"; did you mean --lr?"`` for the close matches of ``word`` (empty when there are none)."""
    matches = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(prefix + m for m in matches)}?" if matches else ""


# --------------------------------------------------------------------------- flags


def split_sweep_flags(flags: list[str]) -> tuple[dict[str, list[float]], list[str]]:
    """``--sweep.lr 1e-3 3e-4`` (or ``--sweep.lr=1e-3``) -> ``{"lr": [1e-3, 3e-4]}``; the same field
    given twice adds to its values. The other flags are returned as they are. ``UsageError`` for a
    value that is not a number or a flag without values."""
    sweep, rest, i = {}, [], 0
    while i < len(flags):
        if not flags[i].startswith("--sweep."):
            rest.append(flags[i])
            i += 1
            continue
        flag, _, first = flags[i].partition("=")
        name, values = flag.removeprefix("--sweep.").replace("-", "_"), [first] if first else []
        i += 1
        while i < len(flags) and not flags[i].startswith("--"):
            values.append(flags[i])
            i += 1
        if not name:
            raise UsageError("--sweep. needs a field name: --sweep.FIELD V1 V2 ...")
        if not values:
            raise UsageError(f"--sweep.{name} needs at least one value: --sweep.{name} V1 V2 ...")
        try:
            sweep.setdefault(name, []).extend(float(v) for v in values)
        except ValueError:
            raise UsageError(f"--sweep.{name} takes numbers, got {' '.join(values)} (a sweep is a grid of "
                             "numbers; run one command per value of anything else)") from None
    return sweep, rest


def runner_flags() -> Parser:
    runner = Parser(add_help=False, allow_abbrev=False)
    runner.add_argument("--seeds", type=int, default=1)
    runner.add_argument("--seed", type=int, default=0)
    runner.add_argument("--out", default=None)
    runner.add_argument("--resume", default=None)
    runner.add_argument("--fallback", action="store_true")
    runner.add_argument("--checkpoint-every", type=int, default=None)
    runner.add_argument("--check-finite", action="store_true")
    runner.add_argument("--no-cache", action="store_true")
    runner.add_argument("--no-progress", action="store_true")
    runner.add_argument("--config", default=None)
    runner.add_argument("--wandb-project", default=None)
    runner.add_argument("--wandb-entity", default=None)
    runner.add_argument("--wandb-mode", default=None, choices=["online", "offline", "disabled"])
    runner.add_argument("--distributed", action="store_true")
    runner.add_argument("--coordinator", default=None)
    runner.add_argument("--num-processes", type=int, default=None)
    runner.add_argument("--process-id", type=int, default=None)
    return runner


def check_flag_names(name: str, config_flags: list[str], fields: dict[str, ConfigField]) -> None:
    """``UsageError`` for a flag that is neither a runner flag nor a ``Config`` field (tyro accepts
    ``--num-envs`` and ``--num_envs``, ``--no-FIELD`` for booleans)."""
    valid = {"h", "help", "drift_params"} | set(fields)
    valid |= {f"no_{f.name}" for f in fields.values() if f.annotation == "bool"}
    spellings = ([f"--{f.replace('_', '-')}" for f in fields]
                 + [o for action in runner_flags()._actions for o in action.option_strings])
    for token in config_flags:
        if not token.startswith("-") or _is_number(token):
            continue
        flag = token.partition("=")[0]
        if flag.lstrip("-").replace("-", "_") not in valid:
            raise UsageError(f"unknown flag {flag} for train {name}{did_you_mean(flag, spellings)} "
                             f"(every flag: purejaxrl train {name} --help)")


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def check_sweep(name: str, sweep: dict[str, list[float]], fields: dict[str, ConfigField]) -> None:
    """``UsageError`` for a swept name that is not a field, a static field, or a field that does not
    hold a number."""
    for field in sweep:
        if field not in fields:
            raise UsageError(f"--sweep.{field}: {name}.Config has no field {field!r}"
                             f"{did_you_mean(field, fields, '--sweep.')}")
        if fields[field].static:
            raise UsageError(f"--sweep.{field}: {field} is static (it fixes shapes or choices, and every "
                             "point of a sweep shares one compiled program); run one command per value "
                             f"with --{field.replace('_', '-')} V")
        if fields[field].annotation not in SWEEPABLE_TYPES:
            raise UsageError(f"--sweep.{field}: {field} is not a number ({fields[field].annotation}); "
                             "only numeric fields can be swept from the command line")


def parse_config(name: str, algo, flags: list[str], default):
    """tyro's ``algo.Config`` from ``flags`` over ``default``; a mistake is one ``UsageError`` line, not
    tyro's box. ``None`` after ``--help`` (tyro printed the help).

    A ``--config`` file's torso may be a user's module (an import path resolves to one); tyro parses
    ``--torso`` as text, so it parses over a built-in name and the module is kept unless ``--torso``
    is given."""
    import tyro

    module_torso = getattr(default, "torso", "auto")
    if isinstance(module_torso, str):
        module_torso = None
    else:  # parse over a built-in name; --torso replaces the module
        default = dataclasses.replace(default, torso="auto")
        if any(flag == "--torso" or flag.startswith("--torso=") for flag in flags):
            module_torso = None
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            config = tyro.cli(algo.Config, args=flags, default=default, prog=f"purejaxrl train {name}",
                              description=config_description(name, algo))
    except SystemExit as stop:
        if stop.code in (0, None):
            return None
        message = tyro_message(captured.getvalue())
        raise UsageError(f"{message} (see purejaxrl train {name} --help)") from None
    return config if module_torso is None else dataclasses.replace(config, torso=module_torso)


def tyro_message(text: str) -> str:
    """The first paragraph of tyro's error box as one line (``Error parsing`` prefixes dropped)."""
    lines = []
    for line in text.splitlines():
        content = line.strip().strip("│╭╮╰╯").strip()
        if line.strip().startswith(("╭", "╰")) or not content:
            continue
        if set(content) <= {"─"}:
            break
        lines.append(content)
    message = " ".join(" ".join(lines).split()) or " ".join(text.split())
    return re.sub(r"^Error parsing (Config: )?", "", message)


def config_description(name: str, algo) -> str:
    """tyro's description: the first paragraph of ``Config``'s docstring, without RST markup, and which
    fields are static (recompile when changed, cannot be swept)."""
    first = (algo.Config.__doc__ or "").strip().split("\n\n")[0]
    static = [f.name for f in config_fields(name).values() if f.static]
    return (" ".join(first.replace("``", "").split())
            + f"\n\nStatic fields (changing one recompiles; they cannot be swept): {', '.join(static)}. "
              "Every other field can be swept: --sweep.FIELD V1 V2 ...")


# --------------------------------------------------------------------------- train


def train_command(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(TRAIN_USAGE + f"\nalgorithms: {', '.join(algorithm_names())} "
              "(purejaxrl train ALGORITHM --help: its config flags)\n\n" + RUNNER_HELP,
              file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    name = None if argv[0].startswith("-") else argv[0]
    flags = argv if name is None else argv[1:]
    run_args, other_flags = runner_flags().parse_known_args(flags)
    if name is None and run_args.resume is None:
        raise UsageError(f"name the algorithm first: purejaxrl train ALGORITHM ... "
                         f"(one of {', '.join(algorithm_names())})")
    if name is not None and name not in algorithm_names():
        raise UsageError(f"unknown algorithm {name!r}{did_you_mean(name, algorithm_names())} "
                         f"(choose one of: {', '.join(algorithm_names())}; purejaxrl algos lists them)")
    sweep, config_flags = split_sweep_flags(other_flags)
    if run_args.resume is not None:
        refuse_changes_on_resume(flags)
        return resume_training(name, run_args)
    if run_args.fallback:
        raise UsageError("--fallback only applies with --resume DIR")
    if run_args.seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {run_args.seeds}")
    fields = config_fields(name)
    check_flag_names(name, config_flags, fields)
    check_sweep(name, sweep, fields)
    if "-h" in config_flags or "--help" in config_flags:
        print(RUNNER_HELP + "\n")
    start_distributed(run_args)
    algo = _algorithms()[name]
    default = default_config(algo, run_args.config)
    if "--drift-params" in config_flags:  # a drift's name or .npz file, loaded for objective lpo
        try:
            default, config_flags = with_drift_params(default, config_flags)
        except (OSError, ValueError) as error:
            raise UsageError(f"--drift-params: {error}") from None
    config = parse_config(name, algo, config_flags, default)
    if config is None:  # --help
        return 0
    return run_training(name, algo, config, run_args, sweep)


def default_config(algo, path: str | None):
    """``algo.Config()`` or the ``--config`` file's config."""
    if path is None:
        return algo.Config()
    import json

    try:
        return config_from_file(algo, path)
    except json.JSONDecodeError as error:
        raise UsageError(f"--config {path} is not a JSON file ({error})") from None
    except (OSError, ValueError, TypeError) as error:
        raise UsageError(f"--config {path}: {error}") from None


def start_distributed(run_args) -> None:
    """``jax.distributed`` when asked for, before the algorithms (and gymnax) are imported;
    ``UsageError`` for an incomplete set of flags."""
    by_hand = (run_args.coordinator, run_args.num_processes, run_args.process_id)
    if any(v is not None for v in by_hand) and any(v is None for v in by_hand):
        raise UsageError("--coordinator, --num-processes and --process-id go together")
    if run_args.distributed or by_hand[0] is not None:
        from purejaxrl import distributed

        distributed.initialize(*by_hand)


def with_drift_params(default, flags: list[str]):
    """``--drift-params NAME|FILE`` (``lpo.load``) as the default config's LPO drift; the
    objective becomes ``lpo``. Returns the new default and the other flags."""
    from purejaxrl.algorithms import lpo

    at = flags.index("--drift-params")
    if at + 1 >= len(flags) or flags[at + 1].startswith("--"):
        raise ValueError("give a shipped drift's name or an .npz file")
    if not hasattr(default, "drift_params"):
        raise ValueError(f"{type(default).__module__} has no learned objective (PPO has)")
    params = lpo.load(flags[at + 1])
    return dataclasses.replace(default, objective="lpo", drift_params=params), flags[:at] + flags[at + 2:]


def config_from_file(algo, path: str):
    """A ``Config`` from a JSON file of field values (presets: ``experiments/configs/``);
    flags given on the command line override it."""
    import json

    values = json.loads(pathlib.Path(path).read_text())
    if not isinstance(values, dict):
        raise ValueError("expected a JSON object of Config fields")
    return algo.Config(**values)


# --------------------------------------------------------------------------- resume


def refuse_changes_on_resume(flags: list[str]) -> None:
    """``UsageError`` naming every flag that would change a resumed run (config flags, sweeps, seeds,
    ``--out``, ``--config``); runner-only flags (``RESUME_COMPATIBLE``) may stay."""
    written = [token.partition("=")[0] for token in flags if token.startswith("--")]
    changing = [flag for flag in written
                if flag.lstrip("-").replace("-", "_") not in RESUME_COMPATIBLE and flag != "--help"]
    if changing:
        raise UsageError("--resume continues the recorded run; these flags would change it: "
                         + ", ".join(dict.fromkeys(changing)))


def resume_training(name: str | None, run_args) -> int:
    """Continue the run in ``--resume DIR`` with its recorded algorithm, config, seeds and sweep."""
    from purejaxrl.rundir import RunRecordError, config_from_record, read_record, recorded_algorithm

    try:
        record = read_record(run_args.resume)
    except (FileNotFoundError, RunRecordError) as error:
        raise UsageError(f"--resume: {error}") from None
    recorded = recorded_algorithm(record)
    if recorded not in algorithm_names():
        raise UsageError(f"--resume: {run_args.resume} was trained with {recorded!r}, not an algorithm "
                         f"train knows ({', '.join(algorithm_names())})")
    if name is not None and recorded != name:
        raise UsageError(f"--resume: {run_args.resume} was trained with {recorded}, not {name}; resume it "
                         f"with: purejaxrl train {recorded} --resume {run_args.resume}")
    start_distributed(run_args)
    algo = _algorithms()[recorded]
    try:
        config = config_from_record(algo, record, run_args.resume)
    except RunRecordError as error:
        raise UsageError(f"--resume: {error}") from None
    run_args.seeds, run_args.seed, run_args.out = record["seeds"], record["seed"], run_args.resume
    print_resume_point(run_args.resume, config)
    return run_training(recorded, algo, config, run_args, record["sweep"] or {}, resume=True)


def print_resume_point(out: str, config) -> None:
    """``resuming from row N of M`` (or ``already complete``)."""
    from purejaxrl.metrics import num_log_rows
    from purejaxrl.rundir import checkpoint_rows

    rows, done = num_log_rows(config.num_log_points, config.num_iterations), checkpoint_rows(out)
    if done >= rows:
        print(f"{out} is already complete ({rows} of {rows} log rows); nothing to train", flush=True)
    elif done == 0:
        print(f"resuming {out} from row 0 of {rows}: it was stopped before its first checkpoint", flush=True)
    else:
        print(f"resuming {out} from row {done} of {rows} (its newest checkpoint)", flush=True)


# --------------------------------------------------------------------------- run


def cli_words(message: str, name: str, out: str | None) -> str:
    """A runner message in command-line terms: ``pass resume=True`` becomes
    ``purejaxrl train ppo --resume DIR``."""
    resume = f"resume it with: purejaxrl train {name} --resume {out}"
    return (message.replace("pass resume=True to continue it", resume)
            .replace("resume with fallback=True (CLI: --fallback)", "add --fallback")
            .replace("fallback=True", "--fallback").replace("resume=True", "--resume DIR")
            .replace("out=...", "--out DIR"))


def raised_while_training(error: BaseException) -> bool:
    """Whether ``error`` came out of a chunk program (``runner.run_chunk``): an internal bug, kept
    with its traceback, not reported as a user mistake."""
    return any(frame.name == "run_chunk" for frame in traceback.extract_tb(error.__traceback__))


def run_training(name: str, algo, config, run_args, sweep: dict, resume: bool = False) -> int:
    import purejaxrl
    from purejaxrl import distributed
    from purejaxrl.compilation_cache import enable_persistent_cache
    from purejaxrl.finite import NonFiniteError
    from purejaxrl.rundir import CheckpointError, RunDirBusyError
    from purejaxrl.runner import RunInterrupted

    enable_persistent_cache(False if run_args.no_cache else None)
    points = f" x {len(list(itertools.product(*sweep.values())))} sweep points" if sweep else ""
    print(f"{name} on {config.env}: {seeds_word(run_args.seeds)}{points} x {config.total_timesteps:,} steps"
          + (f", run dir {run_args.out}" if run_args.out else ""), flush=True)
    wandb = None
    if run_args.wandb_project is not None:
        from purejaxrl.wandb_sink import WandB

        wandb = WandB(project=run_args.wandb_project, entity=run_args.wandb_entity, mode=run_args.wandb_mode)
    start = time.perf_counter()
    try:
        catch_ctrl_c()
        result = purejaxrl.run(algo, config, seeds=run_args.seeds, seed=run_args.seed, sweep=sweep or None,
                               out=run_args.out, resume=resume, fallback=resume and run_args.fallback,
                               checkpoint_every=run_args.checkpoint_every,
                               progress=not run_args.no_progress, wandb=wandb,
                               check_finite=run_args.check_finite)
    except RunInterrupted as stop:
        print(interrupted_message(name, stop, run_args.out), file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted before training started; nothing was trained"
              + (" (resume with the same command)" if resume else ""), file=sys.stderr)
        return 130
    except NonFiniteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (CheckpointError, RunDirBusyError, FileExistsError, FileNotFoundError) as error:
        raise UsageError(cli_words(str(error), name, run_args.out)) from None
    except (ValueError, TypeError) as error:  # ConfigError included: a bad seed, sweep, run dir
        if raised_while_training(error):
            raise
        raise UsageError(cli_words(str(error), name, run_args.out)) from None
    except RuntimeError as error:  # jax.errors.JaxRuntimeError
        if "RESOURCE_EXHAUSTED" not in str(error):
            raise
        raise UsageError(out_of_memory_message(str(error))) from None
    if distributed.is_primary():
        print(f"done in {time.perf_counter() - start:.1f}s (compile included)")
        print_summary(result.summary)
    return 0


def out_of_memory_message(error: str) -> str:
    """One line for XLA's ``RESOURCE_EXHAUSTED``: how much it asked for and what needs less."""
    import re

    asked = re.search(r"allocating (\d+) bytes", error)
    size = f" {int(asked.group(1)) / 1e9:,.1f} GB" if asked else ""
    return (f"out of memory: XLA could not allocate{size} (RESOURCE_EXHAUSTED); fewer --seeds or sweep "
            "points, or fewer environment steps per iteration (num_envs x num_steps), need less")


def catch_ctrl_c() -> None:
    """Ctrl-C raises ``KeyboardInterrupt`` and also files a ``runner.StopRequest``, so that an
    interrupt native code swallowed still stops the run at the next log row (a SIGINT that was
    ignored when the process started, as for ``nohup``, stays ignored)."""
    import signal

    from purejaxrl.runner import StopRequest

    def on_ctrl_c(signum, frame):
        StopRequest.request()
        if not in_finalizer(frame):  # raised there, Python would print it as "Exception ignored"
            raise KeyboardInterrupt

    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        StopRequest.requested = False
        signal.signal(signal.SIGINT, on_ctrl_c)


def in_finalizer(frame) -> bool:
    """Whether ``frame`` runs inside a garbage-collector callback (jax's ``_xla_gc_callback``) or a
    ``__del__``: an exception raised there is printed and dropped, not propagated."""
    import gc

    callbacks = {getattr(callback, "__code__", None) for callback in gc.callbacks}
    while frame is not None:
        if frame.f_code in callbacks or frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def interrupted_message(name: str, stop, out: str | None) -> str:
    """One line: where Ctrl-C stopped the run and the command that resumes it."""
    where = (f"interrupted after log row {stop.rows_done} of {stop.rows} "
             f"({stop.env_steps:,} of {stop.total_steps:,} env steps)")
    if out is None:
        return (f"{where}; the run had no run directory, so it cannot be resumed "
                "(give --out DIR to make a run resumable)")
    if stop.checkpoint_rows == 0:
        return (f"{where}; no checkpoint was written yet (--checkpoint-every ROWS), so a resume "
                f"(purejaxrl train {name} --resume {out}) starts from row 0")
    if stop.checkpoint_rows is None:
        return f"{where}; resume from its newest checkpoint with: purejaxrl train {name} --resume {out}"
    return (f"{where}; resume from row {stop.checkpoint_rows} (its newest checkpoint) with: "
            f"purejaxrl train {name} --resume {out}")
