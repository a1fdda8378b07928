"""Proximal Policy Optimisation (Schulman et al., 2017), discrete and continuous.

One ``update`` is one iteration:

1. Roll out ``num_steps`` steps in ``num_envs`` environments with pi_old.
2. Compute ``V(s_t)`` and ``V(s'_t)`` (``s'_t`` the true next state, the
   pre-reset ``final_obs`` at episode ends) for the whole batch, then
   truncation-aware GAE (``purejaxrl.returns.gae``).
3. ``num_epochs`` passes over ``num_minibatches`` shuffled minibatches, each an
   Adam step on

       L = -mean(r A - drift(r, A)) + vf_coef * L_V - ent_coef * H[pi],

   with ``r = pi(a|s) / pi_old(a|s)``, ``A`` normalised per minibatch, and
   ``drift`` PPO-clip's (``objective="clip"``), DPO's (``"dpo"``) or a learned
   LPO network's (``"lpo"``, parameters ``drift_params``; see ``purejaxrl.losses``
   and ``purejaxrl.algorithms.lpo``).

``train`` is ``init`` followed by a ``lax.scan`` of ``update`` over all
iterations: one XLA program, deterministic given ``(config, key)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from purejaxrl import random
from purejaxrl.config import (
    check,
    frozen_kwargs,
    pytree_dataclass,
    require,
    require_bools,
    require_finite,
    require_ints,
    require_step_budget,
    static,
)
from purejaxrl.distributions import (
    categorical_entropy,
    categorical_log_prob,
    categorical_sample_with_gumbel,
    gaussian_entropy,
    gaussian_log_prob,
)
from purejaxrl.env_spec import EnvSpec, checked_env_spec, require_registered_env
from purejaxrl.env_spec import env_spec as make_env_spec
from purejaxrl.loop import scan_iterations
from purejaxrl.losses import (
    OBJECTIVES,
    clip_drift,
    clipped_value_loss,
    dpo_drift,
    lpo_drift,
    lpo_is_temporal,
    mirror_policy_loss,
    normalize_advantages,
)
from purejaxrl.metrics import (
    EpisodeStats,
    episode_stats_init,
    episode_stats_step,
    finished_episode_metrics,
)
from purejaxrl.networks import (
    actor_critic_apply,
    actor_critic_init,
    flatten_obs,
    policy_head,
    require_mlp,
    value_head,
)
from purejaxrl.normalization import (
    RunningStats,
    normalize,
    running_stats_init,
    running_stats_update,
)
from purejaxrl.optim import clip_by_global_norm, learning_rate
from purejaxrl.ordered import ordered_mean
from purejaxrl.returns import gae


@pytree_dataclass
class Config:
    """PPO hyperparameters. Defaults solve CartPole-v1 in 49k steps.

    Static fields (recompile when changed): ``env``, ``env_kwargs``,
    ``total_timesteps``, ``num_envs``, ``num_steps``, ``num_epochs``,
    ``num_minibatches``, ``anneal_lr``, ``clip_value_loss``, ``hidden_sizes``, ``activation``,
    ``normalize_obs``, ``num_log_points``, ``objective``, ``drift_clip``. The rest are
    traced and can be vmapped (``purejaxrl.sweep``), LPO's ``drift_params`` included: a
    population of drifts is a vmap over it.

    Objectives: ``"clip"`` (PPO), ``"dpo"`` (``dpo_alpha``, ``dpo_beta``) and ``"lpo"``
    (``drift_params`` from ``lpo.init_drift`` or ``lpo.load``; ``drift_clip=True`` adds
    PPO-clip's drift underneath, so all-zero parameters are PPO). Temporally-aware
    parameters see the progress ``n / N`` of the iteration being learned from.

    Metrics have ``min(num_log_points, num_iterations)`` rows.

    ``clip_value_loss`` clips value updates to ``clip_eps`` around the old
    values as PureJaxRL and CleanRL do; off by default: on CartPole (65k steps,
    48 seeds) it slowed value learning enough to leave 4-7 seeds short of a
    final return of 475, against 1-2 without it.
    """

    env: str = static("CartPole-v1")
    """environment id (purejaxrl envs lists them)"""
    env_kwargs: tuple = static(())
    """keyword arguments for envs.make, as KEY=VALUE"""
    total_timesteps: int = static(49_152)
    """environment steps (the remainder after whole iterations is not trained)"""
    num_envs: int = static(16)
    """parallel environments"""
    num_steps: int = static(32)
    """steps per environment per iteration"""
    num_epochs: int = static(4)
    """passes over each batch"""
    num_minibatches: int = static(8)
    """minibatches per epoch (must divide num_envs * num_steps)"""
    lr: float = 5e-3
    """Adam step size"""
    anneal_lr: bool = static(True)
    """decay lr linearly to 0"""
    gamma: float = 0.99
    """discount"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    clip_eps: float = 0.2
    """epsilon of the clip drift and of value clipping"""
    ent_coef: float = 0.0
    """entropy bonus coefficient c_H"""
    vf_coef: float = 0.5
    """value loss coefficient c_V"""
    clip_value_loss: bool = static(False)
    """clipped value loss (as PureJaxRL and CleanRL do)"""
    max_grad_norm: float = 0.5
    """global gradient-norm clip"""
    hidden_sizes: tuple[int, ...] = static((64, 64))
    """MLP widths, actor and critic"""
    activation: str = static("tanh")
    """hidden activation: tanh, relu, silu, swish, gelu or elu"""
    normalize_obs: bool = static(False)
    """running observation normalisation"""
    num_log_points: int = static(100)
    """metric rows"""
    objective: str = static("clip")
    """the policy loss's drift: clip (PPO), dpo (DPO) or lpo (a learned drift, drift_params)"""
    dpo_alpha: float = 2.0
    """DPO's drift parameter alpha"""
    dpo_beta: float = 0.6
    """DPO's drift parameter beta"""
    drift_params: Any = None
    """LPO's drift network (objective lpo only; on the command line: --drift-params NAME|FILE.npz)"""
    drift_clip: bool = static(False)
    """add PPO-clip's drift under the learned one"""

    def __post_init__(self):
        object.__setattr__(self, "env_kwargs", frozen_kwargs(self.env_kwargs))
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        object.__setattr__(self, "drift_params", as_drift_arrays(self.drift_params))
        validate(self)

    @property
    def batch_size(self) -> int:
        """Transitions collected per iteration: ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps

    @property
    def steps_per_iteration(self) -> int:
        """Environment steps per ``update`` (what the runner counts): ``batch_size``."""
        return self.batch_size

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_iterations(self) -> int:
        """``total_timesteps // batch_size`` (the remainder is not trained)."""
        return self.total_timesteps // self.batch_size


def validate(config: Config) -> None:
    """Raise ``ConfigError`` naming the field of an impossible config."""
    require_registered_env(config)
    require_step_budget(config)
    require_ints(config, ("num_envs", "num_steps", "num_epochs", "num_minibatches", "num_log_points"))
    require_bools(config, ("anneal_lr", "clip_value_loss", "normalize_obs", "drift_clip"))
    require(
        config.batch_size % config.num_minibatches == 0, config, "num_minibatches",
        f"num_envs * num_steps = {config.batch_size} is not divisible by "
        f"num_minibatches = {config.num_minibatches}",
    )
    require(
        config.total_timesteps >= config.batch_size, config, "total_timesteps",
        f"{config.total_timesteps} is less than one iteration "
        f"(num_envs * num_steps = {config.batch_size})",
    )
    require_mlp(config)
    checked_env_spec(config)  # builds: the env kwargs are accepted, the action space is usable
    require(config.objective in OBJECTIVES, config, "objective",
            f"unknown {config.objective!r}; choose one of {list(OBJECTIVES)}")
    require_drift_params(config)
    check(config, "lr", lambda v: v > 0, "positive")
    check(config, "gamma", lambda v: (v >= 0) & (v <= 1), "in [0, 1]")
    check(config, "gae_lambda", lambda v: (v >= 0) & (v <= 1), "in [0, 1]")
    check(config, "clip_eps", lambda v: v > 0, "positive", allow_inf=True)
    require_finite(config, ("ent_coef",))
    check(config, "vf_coef", lambda v: v >= 0, "non-negative")
    check(config, "max_grad_norm", lambda v: v > 0, "positive", allow_inf=True)
    check(config, "dpo_alpha", lambda v: v > 0, "positive")
    check(config, "dpo_beta", lambda v: v > 0, "positive")


def as_drift_arrays(params: Any) -> Any:
    """LPO parameters read back from JSON (nested lists, as in a run directory's config.json)
    as float32 arrays; arrays, tracers and ``None`` are kept as they are."""
    if not isinstance(params, dict):
        return params
    return {k: np.asarray(v, np.float32) if isinstance(v, (list, tuple)) else v for k, v in params.items()}


def require_drift_params(config: Config) -> None:
    """``drift_params`` only with ``objective="lpo"``, which needs them: ``{"hidden": [..., F, H],
    "out": [..., H]}`` with ``F`` 8 (LPO) or 16 (temporally-aware), leading axes allowed (a
    population to vmap over)."""
    params = config.drift_params
    if config.objective != "lpo":
        require(params is None, config, "drift_params", f"only objective='lpo' uses drift parameters "
                f"(objective is {config.objective!r}); leave drift_params unset")
        require(not config.drift_clip, config, "drift_clip", "only objective='lpo' has a learned drift "
                "to put PPO-clip's under")
        return
    require(isinstance(params, dict) and set(params) == {"hidden", "out"}, config, "drift_params",
            "objective='lpo' needs the drift network's parameters {'hidden', 'out'}: "
            "lpo.init_drift(key) or lpo.load(name)")
    hidden, out = np.shape(params["hidden"]), np.shape(params["out"])
    if not hidden or not out:  # vmap axis specs and sentinels carry no shapes
        return
    require(len(hidden) >= 2 and hidden[-2] in (8, 16) and out[-1:] == hidden[-1:], config, "drift_params",
            f"expected hidden [..., 8 or 16, H] and out [..., H], got {hidden} and {out}")

# --------------------------------------------------------------------------- environment


def env_spec(config: Config) -> EnvSpec:
    return make_env_spec(config.env, config.env_kwargs)


# --------------------------------------------------------------------------- state


class State(NamedTuple):
    params: dict
    opt_state: Any
    obs_stats: RunningStats
    env_state: Any
    obs: jax.Array
    episode_stats: EpisodeStats
    key: jax.Array
    iteration: jax.Array


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    policy_head: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array
    episode_return: jax.Array
    episode_length: jax.Array


def optimizer(config: Config) -> optax.GradientTransformation:
    """Gradient clipping and Adam's scaling; the learning rate is applied in ``learn``.

    It runs on the parameters raveled into one vector (``learn``): the same
    maths, a much smaller compiled program than one set of ops per leaf.
    """
    return optax.chain(clip_by_global_norm(config.max_grad_norm), optax.scale_by_adam(eps=1e-5))


def init(config: Config, key: jax.Array) -> State:
    spec = env_spec(config)
    keys = jax.random.split(key, 2 + config.num_envs)
    key, net_key, reset_keys = keys[0], keys[1], keys[2:]
    obs_dim = int(np.prod(spec.obs_shape, dtype=int))
    params = actor_critic_init(net_key, obs_dim, spec.action_dim, config.hidden_sizes, spec.continuous)
    obs, env_state = jax.vmap(spec.env.reset, in_axes=(0, None))(reset_keys, spec.env_params)
    return State(
        params=params,
        opt_state=optimizer(config).init(ravel_pytree(params)[0]),
        obs_stats=running_stats_init((obs_dim,)),
        env_state=env_state,
        obs=obs,
        episode_stats=episode_stats_init(config.num_envs),
        key=key,
        iteration=jnp.zeros((), jnp.int32),
    )


def parameters(state: State) -> dict:
    """What training learns (``check_finite`` watches it): networks, Adam's moments, obs statistics."""
    return {"params": state.params, "opt_state": state.opt_state, "obs_stats": state.obs_stats}


# --------------------------------------------------------------------------- policy


def observe(config: Config, stats: RunningStats, obs: jax.Array) -> jax.Array:
    """Flatten and (if ``normalize_obs``) normalise raw observations."""
    flat = flatten_obs(obs, env_spec(config).obs_shape)
    return normalize(stats, flat) if config.normalize_obs else flat


def log_prob_and_entropy(spec: EnvSpec, params: dict, head: jax.Array, action: jax.Array):
    if spec.continuous:
        return gaussian_log_prob(head, params["log_std"], action), gaussian_entropy(params["log_std"])
    return categorical_log_prob(head, action), categorical_entropy(head)


def sample_action(spec: EnvSpec, params: dict, head: jax.Array, noise: jax.Array) -> jax.Array:
    """Sample from pi given pre-drawn noise: Gumbel (discrete) or standard normal."""
    if spec.continuous:
        return head + jnp.exp(params["log_std"]) * noise
    return categorical_sample_with_gumbel(head, noise)


def env_action(spec: EnvSpec, action: jax.Array) -> jax.Array:
    """Continuous actions are clipped to the action space's bounds."""
    if spec.continuous:
        return jnp.clip(action, spec.action_low, spec.action_high)
    return action


def action_noise(spec: EnvSpec, bits: jax.Array) -> jax.Array:
    """Standard normal (continuous) or Gumbel (discrete) noise from random bits."""
    return random.normal(bits) if spec.continuous else random.gumbel(bits)


def act(config: Config, state: State, obs: jax.Array, key: jax.Array, deterministic: bool = False):
    """Actions for a single observation or a batch (leading axes are kept)."""
    spec = env_spec(config)
    head = policy_head(state.params, observe(config, state.obs_stats, obs), config.activation)
    if deterministic:
        action = head if spec.continuous else jnp.argmax(head, axis=-1).astype(jnp.int32)
    else:
        bits = random.bits(key, head.shape)
        action = sample_action(spec, state.params, head, action_noise(spec, bits))
    return env_action(spec, action)


# --------------------------------------------------------------------------- update


def collect(
    config: Config, state: State, step_keys: jax.Array, noise: jax.Array
) -> tuple[State, Transition]:
    """Roll pi_old out for ``num_steps`` steps in every environment.

    Only the policy runs inside the loop; values and log-probabilities are
    computed afterwards for the whole batch at once (fewer, larger ops).

    ``step_keys`` ``(num_steps, num_envs)`` drive the environments and ``noise``
    ``(num_steps, num_envs, action_dim)`` the policy's samples.
    """
    spec = env_spec(config)
    vmapped_step = jax.vmap(spec.env.step, in_axes=(0, 0, 0, None))

    def env_step(carry, inputs):
        env_state, obs, episode_stats = carry
        keys, action_noise = inputs
        head = policy_head(state.params, observe(config, state.obs_stats, obs), config.activation)
        action = sample_action(spec, state.params, head, action_noise)
        next_obs, env_state, reward, terminated, truncated, info = vmapped_step(
            keys, env_state, env_action(spec, action), spec.env_params
        )
        reward = reward.astype(jnp.float32)
        done = jnp.logical_or(terminated, truncated)
        episode_stats, episode_return, episode_length = episode_stats_step(episode_stats, reward, done)
        transition = Transition(
            obs, action, head, reward, terminated, truncated, info["final_obs"],
            episode_return, episode_length,
        )
        return (env_state, next_obs, episode_stats), transition

    carry = (state.env_state, state.obs, state.episode_stats)
    (env_state, obs, episode_stats), trajectory = jax.lax.scan(env_step, carry, (step_keys, noise))
    return state._replace(env_state=env_state, obs=obs, episode_stats=episode_stats), trajectory


def drift(config: Config, ratio: jax.Array, advantages: jax.Array, progress: jax.Array) -> jax.Array:
    """The objective's drift ``>= 0`` (``progress = n / N`` reaches temporally-aware LPO only)."""
    if config.objective == "clip":
        return clip_drift(ratio, advantages, config.clip_eps)
    if config.objective == "dpo":
        return dpo_drift(ratio, advantages, config.dpo_alpha, config.dpo_beta)
    temporal = lpo_is_temporal(config.drift_params)
    learned = lpo_drift(config.drift_params, ratio, advantages, progress if temporal else None)
    return learned + clip_drift(ratio, advantages, config.clip_eps) if config.drift_clip else learned


def loss(config: Config, params: dict, batch: dict, progress: jax.Array) -> tuple[jax.Array, dict]:
    spec = env_spec(config)
    head, values = actor_critic_apply(params, batch["obs"], config.activation)
    log_prob, entropy = log_prob_and_entropy(spec, params, head, batch["action"])
    log_ratio = log_prob - batch["log_prob"]
    ratio = jnp.exp(log_ratio)
    advantages = normalize_advantages(batch["advantage"])
    actor_loss = mirror_policy_loss(ratio, advantages, drift(config, ratio, advantages, progress))
    if config.clip_value_loss:
        value_loss = clipped_value_loss(values, batch["value"], batch["target"], config.clip_eps)
    else:
        value_loss = 0.5 * ordered_mean(jnp.square(values - batch["target"]))
    entropy = ordered_mean(entropy)
    total = actor_loss + config.vf_coef * value_loss - config.ent_coef * entropy
    return total, {
        "loss": total,
        "actor_loss": actor_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        "approx_kl": ordered_mean((ratio - 1.0) - log_ratio),
        "clip_fraction": ordered_mean((jnp.abs(ratio - 1.0) > config.clip_eps).astype(jnp.float32)),
    }


def learn(
    config: Config, state: State, batch: dict, shuffle_bits: jax.Array
) -> tuple[State, dict]:
    """``num_epochs`` x ``num_minibatches`` Adam steps on the collected batch.

    ``shuffle_bits`` ``(num_epochs, batch_size)`` fix each epoch's minibatch order.
    """
    tx = optimizer(config)
    lr = learning_rate(config.lr, config.anneal_lr, state.iteration, config.num_iterations)
    flat_params, unflatten = ravel_pytree(state.params)
    progress = state.iteration / config.num_iterations
    grad_fn = jax.grad(lambda flat, mb: loss(config, unflatten(flat), mb, progress), has_aux=True)

    def minibatch_step(carry, minibatch):
        flat, opt_state = carry
        grads, info = grad_fn(flat, minibatch)
        updates, opt_state = tx.update(grads, opt_state, flat)
        return (flat - lr * updates, opt_state), info

    # Every epoch's shuffle in one sort and one gather per field: the epochs' minibatches in order.
    orders = random.permutation(shuffle_bits).reshape(-1)
    num_steps = config.num_epochs * config.num_minibatches
    minibatches = jax.tree.map(
        lambda x: x[orders].reshape((num_steps, config.minibatch_size, *x.shape[1:])), batch)
    (flat_params, opt_state), info = jax.lax.scan(minibatch_step, (flat_params, state.opt_state), minibatches)
    state = state._replace(params=unflatten(flat_params), opt_state=opt_state)
    return state, jax.tree.map(ordered_mean, info)


def draw_iteration_randomness(config: Config, key: jax.Array):
    """All of one iteration's randomness from two ``jax.random.split`` calls.

    Returns the next state key, environment keys ``(T, N)``, action noise
    ``(T, N, action_dim)`` and minibatch shuffle bits ``(num_epochs, batch_size)``.
    """
    spec = env_spec(config)
    shape = (config.num_steps, config.num_envs)
    keys = jax.random.split(key, 2 + config.batch_size)
    noise_size = config.batch_size * spec.action_dim
    bits = random.bits(keys[1], (noise_size + config.num_epochs * config.batch_size,))
    noise = action_noise(spec, bits[:noise_size].reshape((*shape, spec.action_dim)))
    shuffle_bits = bits[noise_size:].reshape((config.num_epochs, config.batch_size))
    env_keys = keys[2:].reshape((*shape, *keys.shape[1:]))  # legacy uint32 keys have a trailing 2
    return keys[0], env_keys, noise, shuffle_bits


def update(config: Config, state: State) -> tuple[State, dict]:
    """One PPO iteration: collect, estimate advantages, learn."""
    key, step_keys, noise, shuffle_bits = draw_iteration_randomness(config, state.key)
    stats = state.obs_stats
    state, traj = collect(config, state, step_keys, noise)

    obs = observe(config, stats, traj.obs)
    final_obs = observe(config, stats, traj.final_obs)
    values, next_values = value_head(state.params, jnp.stack([obs, final_obs]), config.activation)
    log_prob, _ = log_prob_and_entropy(env_spec(config), state.params, traj.policy_head, traj.action)
    advantages, targets = gae(
        traj.reward, values, next_values, traj.terminated, traj.truncated,
        config.gamma, config.gae_lambda,
    )
    batch = {
        "obs": obs, "action": traj.action, "log_prob": log_prob, "value": values,
        "advantage": advantages, "target": targets,
    }
    batch = jax.tree.map(lambda x: x.reshape((config.batch_size, *x.shape[2:])), batch)
    state, learn_metrics = learn(config, state, batch, shuffle_bits)

    if config.normalize_obs:
        raw_obs = flatten_obs(traj.obs, env_spec(config).obs_shape)
        state = state._replace(obs_stats=running_stats_update(stats, raw_obs))
    done = jnp.logical_or(traj.terminated, traj.truncated)
    metrics = {
        "env_steps": (state.iteration + 1) * config.batch_size,
        **finished_episode_metrics(traj.episode_return, traj.episode_length, done),
        **learn_metrics,
        "learning_rate": learning_rate(config.lr, config.anneal_lr, state.iteration, config.num_iterations),
    }
    return state._replace(key=key, iteration=state.iteration + 1), metrics


def train(config: Config, key: jax.Array) -> tuple[State, dict]:
    """``init`` and every iteration in one ``lax.scan``; metrics have one row per log point."""
    return scan_iterations(update, config, init(config, key), config.num_iterations)
