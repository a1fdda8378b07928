"""Learned Policy Optimisation: PPO's drift replaced by a network meta-learned with evolution strategies.

LPO (Lu et al., "Discovered Policy Optimisation", NeurIPS 2022) and temporally-aware
LPO (Jackson et al., ICLR 2024) keep PPO and learn only the drift of its policy loss
``-mean(r A - drift(r, A))`` (``purejaxrl.losses`` has the network and its features)::

    params = lpo.init_drift(key)                        # or lpo.load("cartpole_8k")
    config = ppo.Config(env="CartPole-v1", objective="lpo", drift_params=params)

Meta-training is OpenAI-ES (evosax 0.3's ``Open_ES``) on the drift's parameters, where
one fitness evaluation is a whole PPO training run::

    for generation g = 1..G:
        theta_i = mu + sigma eps_i,  eps_{i + P/2} = -eps_i              (antithetic pairs)
        F_i = mean_env mean_seed R(PPO with drift theta_i) [/ |R(PPO)|]  (the same seeds for all i)
        grad = sum_i rank(F_i) eps_i / (P sigma)                         (centred ranks in [-1/2, 1/2])
        mu <- Adam(mu, ascending grad)

``R`` is a run's final return (``stats.final_returns``: episodes in its last 10%). The
population x seeds of one environment is one vmapped (and, over devices, sharded)
computation per generation. evosax minimises, so it is told ``-F``; its default
``sigma`` of 1.0 is far too large for these networks, hence ``MetaConfig.std``.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from purejaxrl.algorithms import ppo

from purejaxrl.config import ConfigError, check, frozen_kwargs, require_bools, require_ints, vmap_axes
from purejaxrl.losses import lpo_drift, lpo_init, lpo_is_temporal
from purejaxrl.runner import batched, place, seed_sharding
from purejaxrl.stats import final_returns

SHIPPED = pathlib.Path(__file__).parent / "drifts"


# --------------------------------------------------------------------------- the drift


def init_drift(key: jax.Array, temporal: bool = False) -> dict:
    """Random drift-network parameters ``{"hidden": [F, 128], "out": [128]}`` (LeCun normal);
    ``F = 8`` features, or 16 when ``temporal`` (each feature also times the progress ``n/N``)."""
    return lpo_init(key, temporal)


def drift(params: dict, ratio: jax.Array, advantage: jax.Array, progress: jax.Array | float | None = None
          ) -> jax.Array:
    """``relu(w2 . tanh(W1 x(r, A[, n/N])) - 1e-4)`` elementwise (broadcasting): 0 with zero
    slope at ``r = 1`` and never negative, for any parameters."""
    return lpo_drift(params, ratio, advantage, progress)


def save(params: dict, path: str | pathlib.Path) -> pathlib.Path:
    """Write drift parameters to an ``.npz`` file (no pickles)."""
    path = pathlib.Path(path).with_suffix(".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{k: np.asarray(v, np.float32) for k, v in params.items()})
    return path


def load(name_or_path: str | pathlib.Path) -> dict:
    """Drift parameters from an ``.npz`` file, or a shipped drift by name (``shipped()``)."""
    path = pathlib.Path(name_or_path)
    if not path.is_file() and not path.suffix:
        path = SHIPPED / f"{path}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"no drift {str(name_or_path)!r}: not a file, and the shipped drifts "
                                f"are {shipped()}")
    with np.load(path, allow_pickle=False) as data:
        params = {k: jnp.asarray(data[k]) for k in data.files}
    if set(params) != {"hidden", "out"}:
        raise ValueError(f"{path} holds {sorted(params)}, not drift parameters {{'hidden', 'out'}}")
    return params


def shipped() -> list[str]:
    """Names of the drifts that come with purejaxrl (``algorithms/drifts/*.npz``)."""
    return sorted(p.stem for p in SHIPPED.glob("*.npz"))


# --------------------------------------------------------------------------- meta-training


@dataclasses.dataclass(frozen=True)
class MetaConfig:
    """Meta-training settings.

    ``envs``: the inner PPO runs' environments; ``ppo``: ``ppo.Config`` fields shared by
    every inner run (``{"total_timesteps": 32768}`` or ``("total_timesteps=32768",)``);
    ``temporal``: temporally-aware LPO; ``drift_clip``: learn on top of PPO-clip's drift.
    ``population_size`` (even: antithetic pairs) drifts per generation, each trained on
    the same ``num_seeds`` seeds (new ones every generation); ``std`` and ``lr``: the ES
    noise scale and its Adam step. ``normalize``: divide each environment's returns by
    PPO's mean return on it over ``baseline_seeds`` seeds (``None``: when there are
    several environments). The row's ``env_steps`` count every inner run's steps so far.
    """

    envs: tuple[str, ...] = ("CartPole-v1",)
    ppo: tuple = ()
    temporal: bool = False
    drift_clip: bool = False
    population_size: int = 32
    num_seeds: int = 4
    generations: int = 32
    std: float = 0.03
    lr: float = 0.01
    normalize: bool | None = None
    baseline_seeds: int = 16

    def __post_init__(self):
        envs = (self.envs,) if isinstance(self.envs, str) else self.envs
        if not isinstance(envs, (tuple, list)) or not all(isinstance(env, str) for env in envs):
            raise ConfigError(f"MetaConfig.envs must be environment ids (strings), got {self.envs!r}")
        object.__setattr__(self, "envs", tuple(envs))
        object.__setattr__(self, "ppo", frozen_kwargs(self.ppo))
        if self.normalize is None:
            object.__setattr__(self, "normalize", len(envs) > 1)
        require_ints(self, ("population_size", "num_seeds", "generations", "baseline_seeds"))
        require_bools(self, ("temporal", "drift_clip", "normalize"))
        if self.population_size % 2:
            raise ConfigError(f"MetaConfig.population_size must be even (antithetic pairs), "
                              f"got {self.population_size}")
        if not envs or len(set(envs)) != len(envs):
            raise ConfigError(f"MetaConfig.envs needs at least one environment, each once, got {envs}")
        for name in ("std", "lr"):
            if getattr(self, name) is None:  # check() lets None through (for jax's pytree sentinels)
                raise ConfigError(f"MetaConfig.{name} must be a positive number, got None")
            check(self, name, lambda v: v > 0, "positive")
        reserved = {"env", "objective", "drift_params", "drift_clip"} & set(dict(self.ppo))
        if reserved:
            raise ConfigError(f"MetaConfig.ppo: {sorted(reserved)} are set by meta-training itself "
                              "(envs, the LPO objective and its drift); leave them out")
        for env in envs:
            self.inner_config(env, None)  # every inner config is valid before anything runs

    def inner_config(self, env: str, params: dict | None) -> ppo.Config:
        """The inner PPO run on ``env`` with drift ``params`` (``None``: PPO-clip, the baseline)."""
        overrides = dict(self.ppo)
        if params is None:
            return ppo.Config(env=env, **overrides)
        return ppo.Config(env=env, objective="lpo", drift_params=params, drift_clip=self.drift_clip,
                          **overrides)


@dataclasses.dataclass(frozen=True)
class MetaResult:
    """``params``: the ES mean after the last generation; ``history``: per generation, ``fitness``
    ``[G, P]`` and ``return/<env>`` ``[G, P]`` (mean over seeds); ``baseline``: PPO's mean final
    return per environment (the normalisers)."""

    params: dict
    history: dict[str, np.ndarray]
    baseline: dict[str, float]
    es_state: Any
    out: pathlib.Path | None


def strategy(meta: MetaConfig, template: dict):
    """evosax's OpenAI-ES over drift parameters shaped like ``template``."""
    from evosax.algorithms import Open_ES

    return Open_ES(population_size=meta.population_size, solution=template, use_antithetic_sampling=True,
                   optimizer=optax.adam(meta.lr), std_schedule=optax.constant_schedule(meta.std))


@jax.jit
def population_returns(configs: ppo.Config, keys: jax.Array) -> dict:
    """PPO with each drift of ``configs.drift_params`` (leading axis P) on every key, in one
    vmapped program: ``episode_return`` and ``episodes`` shaped ``[P, seeds, rows]``."""
    train = batched(ppo.train, vmap_axes(configs, "drift_params"), x_per_point=False)
    _, metrics = train(configs, keys)
    return {"episode_return": metrics["episode_return"], "episodes": metrics["episodes"]}


train_seeds = jax.jit(batched(ppo.train, None, x_per_point=False))


def baseline_returns(meta: MetaConfig, key: jax.Array) -> dict[str, float]:
    """PPO-clip's mean final return per environment over ``meta.baseline_seeds`` seeds."""
    keys = jax.random.split(key, meta.baseline_seeds)
    means = {}
    for env in meta.envs:
        _, metrics = train_seeds(meta.inner_config(env, None), keys)
        means[env] = float(np.nanmean(final_returns(jax.device_get(metrics))))
    return means


def generation_fitness(meta: MetaConfig, population: dict, keys: jax.Array, baseline: dict[str, float]
                       ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(fitness [P], {env: mean final return over seeds [P]})`` of one population. A member with a
    seed that has no final return (diverged: a NaN/inf return) gets fitness ``-inf``, the worst."""
    per_env = {}
    for env in meta.envs:
        metrics = jax.device_get(population_returns(meta.inner_config(env, population), keys))
        per_env[env] = np.mean(final_returns(metrics), axis=-1)
    scaled = [per_env[env] / abs(baseline[env]) if meta.normalize else per_env[env] for env in meta.envs]
    fitness = np.mean(scaled, axis=0)
    return np.where(np.isfinite(fitness), fitness, -np.inf), per_env


def meta_train(meta: MetaConfig, seed: int = 0, *, out: str | pathlib.Path | None = None,
               resume: bool = False, progress: bool = True, init_params: dict | None = None,
               keep_checkpoints: int = 3) -> MetaResult:
    """Run ``meta.generations`` ES generations from ``init_params`` (default
    ``init_drift(key(seed))``). With ``out``: ``config.json``, one ``metrics.jsonl``/``metrics.csv``
    row per generation (fitness and returns per population member), an ES checkpoint every
    generation, and at the end ``drift.npz`` (the ES mean), ``summary.json`` and
    ``meta_curve.png``; ``resume=True`` continues from the newest checkpoint."""
    from tqdm.auto import tqdm

    from purejaxrl import distributed, rundir

    if resume and out is None:
        raise ValueError("resume=True needs the run directory: pass out=...")
    key = jax.random.key(seed)
    key, init_key, baseline_key = jax.random.split(key, 3)
    mean = init_drift(init_key, meta.temporal) if init_params is None else init_params
    if lpo_is_temporal(mean) != meta.temporal:
        raise ValueError(f"init_params are {'' if lpo_is_temporal(mean) else 'not '}temporally aware but "
                         f"MetaConfig.temporal is {meta.temporal}")
    es = strategy(meta, mean)
    es_state = jax.tree.map(jnp.asarray, es.init(init_key, mean, es.default_params))
    carry = {"es": es_state, "key": key, "baseline": jnp.zeros(len(meta.envs))}
    directory = None if out is None else rundir.RunDir(
        pathlib.Path(out), meta, seeds=meta.num_seeds, seed=seed, sweep=None, points=None,
        keep_checkpoints=keep_checkpoints, resume=resume)
    try:  # the run directory (and its lock) is closed however meta-training ends
        history: list[dict[str, np.ndarray]] = []
        sharding = seed_sharding(meta.population_size, 0)
        if directory is not None and resume:
            carry, history, _ = directory.restore(carry, seed_sharding(1, 0))
        if not history:
            carry["baseline"] = jnp.asarray([baseline_returns(meta, baseline_key)[env] for env in meta.envs])
        baseline = dict(zip(meta.envs, np.asarray(carry["baseline"]).tolist()))
        unusable = {env: b for env, b in baseline.items() if not np.isfinite(b) or abs(b) < 1e-6}
        if meta.normalize and unusable:
            raise ValueError(f"cannot normalise returns by PPO's mean final return {unusable} (zero, or no "
                             "episode finished); use MetaConfig(normalize=False) or a longer inner budget")
        inner_configs = [meta.inner_config(env, None) for env in meta.envs]
        steps_per_run = sum(c.num_iterations * c.batch_size for c in inner_configs)
        inner_steps = meta.population_size * meta.num_seeds * steps_per_run

        bar = tqdm(total=meta.generations, initial=len(history), unit="gen", disable=not progress)
        started = time.perf_counter()
        for generation in range(len(history), meta.generations):
            key, ask_key, seed_key, tell_key = jax.random.split(carry["key"], 4)
            population, es_state = es.ask(ask_key, carry["es"], es.default_params)
            seed_keys = jax.random.split(seed_key, meta.num_seeds)
            fitness, per_env = generation_fitness(meta, place(population, sharding), seed_keys, baseline)
            es_state, _ = es.tell(tell_key, population, jnp.asarray(-fitness), es_state, es.default_params)
            carry = {"es": es_state, "key": key, "baseline": carry["baseline"]}
            row = {"env_steps": np.full(meta.population_size, (generation + 1) * inner_steps),
                   "fitness": fitness, **{f"return/{env}": r for env, r in per_env.items()}}
            history.append(row)
            if directory is not None:
                directory.append_row(generation, row)
                directory.checkpoint(generation, carry, history)
            bar.update(1)
            bar.set_postfix(fitness=f"{np.mean(fitness[np.isfinite(fitness)]):.3g}")
        bar.close()

        metrics = {k: np.stack([h[k] for h in history]) for k in history[0]}
        params = es.get_mean(carry["es"])
        if directory is not None and distributed.is_primary():
            wall_s = time.perf_counter() - started
            write_meta_summary(pathlib.Path(out), meta, metrics, baseline, params, wall_s)
        return MetaResult(params=params, history=metrics, baseline=baseline, es_state=carry["es"],
                          out=None if out is None else pathlib.Path(out))
    finally:
        if directory is not None:
            directory.close()


def write_meta_summary(out: pathlib.Path, meta: MetaConfig, metrics: dict[str, np.ndarray],
                       baseline: dict[str, float], params: dict, wall_s: float) -> None:
    """``drift.npz``, ``summary.json`` (mean fitness per generation) and ``meta_curve.png``."""
    from purejaxrl.plots import plot_learning_curves

    save(params, out / "drift.npz")
    fitness = np.where(np.isfinite(metrics["fitness"]), metrics["fitness"], np.nan)
    summary = {"generations": len(fitness), "baseline_ppo_return": baseline,
               "mean_fitness": np.nanmean(fitness, axis=1).round(4).tolist(),
               "max_fitness": np.nanmax(fitness, axis=1).round(4).tolist(),
               "wall_seconds_this_call": round(wall_s, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    generations = np.arange(1, len(fitness) + 1)
    plot_learning_curves({"population": (generations, fitness.T)}, out / "meta_curve.png",
                         title=f"LPO meta-training on {', '.join(meta.envs)}", ylabel="fitness",
                         xlabel="generation")


# --------------------------------------------------------------------------- analysis


def drift_grid(params: dict, progress: float | None = None, ratio_range=(0.5, 2.0),
               advantage_range=(-3.0, 3.0), points: int = 101) -> tuple[np.ndarray, ...]:
    """``(ratios, advantages, drift [A, R], d drift / dr [A, R])`` over a log-spaced ratio grid."""
    ratios = jnp.exp(jnp.linspace(np.log(ratio_range[0]), np.log(ratio_range[1]), points))
    advantages = jnp.linspace(*advantage_range, points)
    one = lambda r, a: drift(params, r, a, progress)  # noqa: E731
    values = jax.vmap(jax.vmap(one, (0, None)), (None, 0))(ratios, advantages)
    slopes = jax.vmap(jax.vmap(jax.grad(one), (0, None)), (None, 0))(ratios, advantages)
    return tuple(np.asarray(x) for x in (ratios, advantages, values, slopes))


def plot_drift(params: dict, path: str | pathlib.Path, progress: tuple[float, ...] = (0.0, 0.5, 1.0),
               title: str | None = None) -> pathlib.Path:
    """The drift and its derivative in ``r`` over ``(r, A)``, as the papers' figures (one row per
    ``progress`` value for temporally-aware parameters)."""
    from matplotlib.figure import Figure

    from purejaxrl.plots import save_figure

    rows = progress if lpo_is_temporal(params) else (None,)
    figure = Figure(figsize=(10, 4 * len(rows)), layout="constrained")
    axes = figure.subplots(len(rows), 2, squeeze=False)
    for row, p in zip(axes, rows):
        ratios, advantages, values, slopes = drift_grid(params, p)
        for ax, grid, name in zip(row, (values, slopes), ("drift(r, A)", "d drift / d r")):
            bound = max(float(np.max(np.abs(grid))), 1e-6)
            cmap, vmin = ("viridis", 0.0) if grid is values else ("coolwarm", -bound)
            image = ax.pcolormesh(ratios, advantages, grid, cmap=cmap, vmin=vmin, vmax=bound, shading="auto")
            ax.set_xscale("log")
            ax.axvline(1.0, color="k", lw=0.5)
            ax.axhline(0.0, color="k", lw=0.5)
            ax.set_xlabel("ratio r")
            ax.set_ylabel("advantage A")
            ax.set_title(name + ("" if p is None else f", n/N = {p:g}"))
            figure.colorbar(image, ax=ax)
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)


__all__ = ["MetaConfig", "MetaResult", "drift", "drift_grid", "init_drift", "load", "meta_train",
           "plot_drift", "save", "shipped"]
