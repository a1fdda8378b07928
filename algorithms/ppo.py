"""Proximal Policy Optimisation (Schulman et al., 2017), discrete and continuous.

One ``update`` is one iteration:

1. Roll out ``num_steps`` steps in ``num_envs`` environments with pi_old.
2. Compute ``V(s_t)`` and ``V(s'_t)`` (``s'_t`` the true next state, the
   pre-reset ``final_obs`` at episode ends) for the whole batch, then
   truncation-aware GAE (``purejaxrl.returns.gae``).
3. ``num_epochs`` passes over ``num_minibatches`` shuffled minibatches (of
   transitions; of whole environments' windows with a recurrent core), each an
   Adam step on

       L = -mean(r A - drift(r, A)) + vf_coef * L_V - ent_coef * H[pi],

   with ``r = pi(a|s) / pi_old(a|s)``, ``A`` normalised per minibatch, and
   ``drift`` PPO-clip's (``objective="clip"``), DPO's (``"dpo"``) or a learned
   LPO network's (``"lpo"``, parameters ``drift_params``; see ``purejaxrl.losses``
   and ``purejaxrl.algorithms.lpo``).

Networks: a torso (``mlp``, ``cnn`` or a user's ``flax.linen`` module) under a
policy head and a value head. Feed-forward, the actor and the critic each have a
torso of their own. With a recurrent ``core`` (``gru``, ``lstm``) one torso and
core are shared: ``(h_t, y_t) = core(h_{t-1}, torso(o_t))``, the heads read
``y_t``. The carry ``h`` lives in the agent state and is reset to zero after
every episode end (terminated or truncated); on truncation
``V(s'_t)`` is evaluated with the carry from *before* that reset. Learning is
backpropagation through time over the rollout window from the carry the window
started with, minibatches being sets of environments (time is never shuffled).

``train`` is ``init`` followed by a ``lax.scan`` of ``update`` over all
iterations: one XLA program, deterministic given ``(config, key)``.

Action masks (an environment with ``action_mask``, ``purejaxrl.envs.masks``): illegal
actions' logits are ``finfo.min`` (``distributions.masked_logits``) when acting and in the
loss, so they have probability 0 and the entropy is over the legal actions.
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
    masked_logits,
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
    CORES,
    Dense,
    Head,
    apply_torso,
    build_torso,
    require_mlp,
    require_torso,
    reset_carry,
    set_config_torso,
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
from purejaxrl.stepping import clip_action, env_action_masks, step_envs


@pytree_dataclass
class Config:
    """PPO hyperparameters. Defaults solve CartPole-v1 in 49k steps.

    Static fields (recompile when changed): ``env``, ``env_kwargs``,
    ``total_timesteps``, ``num_envs``, ``num_steps``, ``num_epochs``,
    ``num_minibatches``, ``anneal_lr``, ``clip_value_loss``, ``torso``, ``hidden_sizes``,
    ``activation``, ``shared_torso``, ``core``, ``core_size``, ``normalize_obs``, ``num_log_points``,
    ``objective``, ``drift_clip``. The rest are
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
    torso: str = static("auto")
    """observation -> features: auto (cnn on [H, W, C], else mlp), mlp, cnn, or package.module:Name (flax)"""
    hidden_sizes: tuple[int, ...] = static((64, 64))
    """dense layer widths of the torso (mlp; cnn after its convolutions)"""
    activation: str = static("tanh")
    """hidden activation of the mlp torso: tanh, relu, silu, swish, gelu or elu"""
    shared_torso: bool = static(False)
    """one torso for the actor and the critic (feed-forward; with a core they always share one)"""
    core: str = static("none")
    """recurrent core after the torso: none, gru or lstm"""
    core_size: int = static(128)
    """width of the recurrent core's carry"""
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
        set_config_torso(self)
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
    require_ints(config, ("num_envs", "num_steps", "num_epochs", "num_minibatches", "num_log_points",
                          "core_size"))
    require_bools(config, ("anneal_lr", "clip_value_loss", "normalize_obs", "drift_clip", "shared_torso"))
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
    require_network(config)
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


def require_network(config: Config) -> None:
    """A torso that maps observations to features, a known core, and, with a recurrent core,
    minibatches of whole environments."""
    require(config.core == "none" or config.core in CORES, config, "core",
            f"unknown {config.core!r}; choose one of {['none', *CORES]}")
    require_torso(config, networks(config).torso, env_spec(config).obs_shape)
    if is_recurrent(config):
        require(config.num_envs % config.num_minibatches == 0, config, "num_minibatches",
                f"a recurrent core learns from minibatches of whole environments: num_envs = "
                f"{config.num_envs} is not divisible by num_minibatches = {config.num_minibatches}")


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
    carry: Any = ()
    """the recurrent core's carry per environment (``()`` feed-forward)"""


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
    core_output: Any = ()
    """``y_t`` of a recurrent core (``()`` feed-forward)"""
    carry_after: Any = ()
    """the core's carry after step ``t``, before an episode end resets it"""
    action_mask: Any = None
    """the legal actions at ``obs`` (``None`` when the environment has no mask)"""


# --------------------------------------------------------------------------- networks


class Networks(NamedTuple):
    torso: Any
    core: Any  # None: feed-forward


def networks(config: Config) -> Networks:
    """The torso and (recurrent) core modules a config names."""
    spec = env_spec(config)
    torso = build_torso(config.torso, spec.obs_shape, config.hidden_sizes, config.activation)
    return Networks(torso, CORES[config.core](config.core_size) if is_recurrent(config) else None)


def is_recurrent(config: Config) -> bool:
    return config.core != "none"


def head_module(config: Config, features: int, gain: float) -> Dense | Head:
    """A head on the features: linear (feed-forward, on the actor's or the critic's own torso), or
    with one ReLU layer of ``core_size`` before it when actor and critic share a recurrent core
    (PureJaxRL's ``ppo_rnn.py``)."""
    if is_recurrent(config):
        return Head(features, gain, hidden_sizes=(config.core_size,), activation="relu")
    return Dense(features, gain)


def policy_module(config: Config) -> Dense | Head:
    """Policy head: logits or the Gaussian mean, gain 0.01 (a near-uniform initial policy)."""
    return head_module(config, env_spec(config).action_dim, 0.01)


def value_module(config: Config) -> Dense | Head:
    """Value head ``V``, gain 1."""
    return head_module(config, 1, 1.0)


def init_params(config: Config, key: jax.Array, obs: jax.Array) -> dict:
    """Feed-forward: ``actor_torso``, ``critic_torso`` (``torso`` if ``shared_torso``); recurrent:
    ``torso``, ``core``; then the heads
    ``actor`` and ``critic`` and, for continuous actions, a state-independent ``log_std``.
    ``obs``: a batch ``[N, *obs_shape]``."""
    spec = env_spec(config)
    nets = networks(config)
    keys = jax.random.split(key, 4)
    if is_recurrent(config):
        torso = nets.torso.init(keys[0], obs)
        core = nets.core.init(keys[1], nets.core.initial_carry(obs.shape[0]), features(config, torso, obs))
        params = {"torso": torso, "core": core}
        head_input = jnp.zeros((1, config.core_size), jnp.float32)
    else:
        if config.shared_torso:
            params = {"torso": nets.torso.init(keys[0], obs)}
        else:
            params = {"actor_torso": nets.torso.init(keys[0], obs),
                      "critic_torso": nets.torso.init(keys[1], obs)}
        head_input = features(config, params[torso_key(config, "actor")], obs[:1])
    params["actor"] = policy_module(config).init(keys[2], head_input)
    params["critic"] = value_module(config).init(keys[3], head_input)
    if spec.continuous:
        params["log_std"] = jnp.zeros((spec.action_dim,), jnp.float32)
    return params


def initial_carry(config: Config, batch_shape: tuple[int, ...] = ()) -> Any:
    """The zero carry of a recurrent core for observations with leading axes ``batch_shape``
    (``()`` feed-forward)."""
    if not is_recurrent(config):
        return ()
    size = int(np.prod(batch_shape, dtype=int))
    carry = networks(config).core.initial_carry(size)
    return jax.tree.map(lambda c: c.reshape((*batch_shape, *c.shape[1:])), carry)


def features(config: Config, variables: Any, obs: jax.Array) -> jax.Array:
    """The torso's features ``[*batch, F]`` of observations ``[*batch, *obs_shape]``."""
    return apply_torso(networks(config).torso, variables, obs, len(env_spec(config).obs_shape))


def torso_key(config: Config, role: str) -> str:
    """Where a feed-forward ``role``'s (``actor``, ``critic``) torso is in the parameters:
    ``torso`` when they share one, else ``{role}_torso``."""
    return "torso" if config.shared_torso else f"{role}_torso"


def policy_head(config: Config, params: dict, obs: jax.Array) -> jax.Array:
    """Feed-forward policy head for observations ``[*batch, *obs_shape]``."""
    torso = params[torso_key(config, "actor")]
    return policy_module(config).apply(params["actor"], features(config, torso, obs))


def value_head(config: Config, params: dict, obs: jax.Array) -> jax.Array:
    """Feed-forward ``V(s)`` for observations ``[*batch, *obs_shape]``."""
    torso = params[torso_key(config, "critic")]
    return value_module(config).apply(params["critic"], features(config, torso, obs))[..., 0]


def core_step(config: Config, params: dict, carry: Any, obs: jax.Array) -> tuple[Any, jax.Array]:
    """``(h_t, y_t) = core(h_{t-1}, torso(o_t))`` for a batch ``[N, *obs_shape]``."""
    return networks(config).core.apply(params["core"], carry, features(config, params["torso"], obs))


def unroll(config: Config, params: dict, carry: Any, obs: jax.Array, done: jax.Array) -> jax.Array:
    """Core outputs ``y [T, N, size]`` over a window ``obs [T, N, ...]`` from ``carry``, resetting
    the carry after every step where ``done`` (as the rollout did)."""
    initial = initial_carry(config, (obs.shape[1],))

    def step(carry, inputs):
        obs_t, done_t = inputs
        carry, y = core_step(config, params, carry, obs_t)
        return reset_carry(carry, initial, done_t), y

    return jax.lax.scan(step, carry, (obs, done))[1]


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
    obs, env_state = jax.vmap(spec.env.reset, in_axes=(0, None))(reset_keys, spec.env_params)
    params = init_params(config, net_key, obs.astype(jnp.float32))
    return State(
        params=params,
        opt_state=optimizer(config).init(ravel_pytree(params)[0]),
        obs_stats=running_stats_init(spec.obs_shape),
        env_state=env_state,
        obs=obs,
        episode_stats=episode_stats_init(config.num_envs),
        key=key,
        iteration=jnp.zeros((), jnp.int32),
        carry=initial_carry(config, (config.num_envs,)),
    )


def parameters(state: State) -> dict:
    """What training learns (``check_finite`` watches it): networks, Adam's moments, obs statistics."""
    return {"params": state.params, "opt_state": state.opt_state, "obs_stats": state.obs_stats}


# --------------------------------------------------------------------------- policy


def observe(config: Config, stats: RunningStats, obs: jax.Array) -> jax.Array:
    """Raw observations as float32, normalised if ``normalize_obs``."""
    obs = obs.astype(jnp.float32)
    return normalize(stats, obs) if config.normalize_obs else obs


def log_prob_and_entropy(spec: EnvSpec, params: dict, head: jax.Array, action: jax.Array):
    if spec.continuous:
        return gaussian_log_prob(head, params["log_std"], action), gaussian_entropy(params["log_std"])
    return categorical_log_prob(head, action), categorical_entropy(head)


def sample_action(spec: EnvSpec, params: dict, head: jax.Array, noise: jax.Array) -> jax.Array:
    """Sample from pi given pre-drawn noise: Gumbel (discrete) or standard normal."""
    if spec.continuous:
        return head + jnp.exp(params["log_std"]) * noise
    return categorical_sample_with_gumbel(head, noise)


def action_noise(spec: EnvSpec, bits: jax.Array) -> jax.Array:
    """Standard normal (continuous) or Gumbel (discrete) noise from random bits."""
    return random.normal(bits) if spec.continuous else random.gumbel(bits)


def act(config: Config, state: State, obs: jax.Array, key: jax.Array, deterministic: bool = False,
        carry: Any = None, action_mask: jax.Array | None = None):
    """Actions for a single observation or a batch (leading axes are kept); only legal ones
    where ``action_mask`` (``bool[..., num_actions]``) is given.

    With a recurrent core, ``carry`` (``initial_carry(config, leading axes)`` at an episode's
    start) is required and ``(actions, carry)`` is returned; reset it where an episode ended
    (``networks.reset_carry``).
    """
    spec = env_spec(config)
    obs = observe(config, state.obs_stats, obs)
    if is_recurrent(config):
        if carry is None:
            raise ValueError("a recurrent PPO's act needs the carry: act(config, state, obs, key, "
                             "carry=ppo.initial_carry(config, obs.shape[:-len(obs_shape)])); it returns "
                             "(actions, carry)")
        batch_shape = obs.shape[: obs.ndim - len(spec.obs_shape)]
        flat = obs.reshape((-1, *spec.obs_shape))
        carry, y = core_step(config, state.params, jax.tree.map(
            lambda c: c.reshape((flat.shape[0], *c.shape[len(batch_shape):])), carry), flat)
        head = policy_module(config).apply(state.params["actor"], y).reshape((*batch_shape, -1))
        carry = jax.tree.map(lambda c: c.reshape((*batch_shape, *c.shape[1:])), carry)
        return choose_action(spec, state.params, legal(head, action_mask), key, deterministic), carry
    head = policy_head(config, state.params, obs)
    return choose_action(spec, state.params, legal(head, action_mask), key, deterministic)


def legal(head: jax.Array, action_mask: jax.Array | None) -> jax.Array:
    """Logits with the illegal actions' at ``finfo.min``; unchanged without a mask (``None``)."""
    return head if action_mask is None else masked_logits(head, action_mask)


def choose_action(spec: EnvSpec, params: dict, head: jax.Array, key: jax.Array, deterministic: bool):
    """The mode (``deterministic``) or a sample of pi given its head, clipped to the action space."""
    if deterministic:
        action = head if spec.continuous else jnp.argmax(head, axis=-1).astype(jnp.int32)
    else:
        bits = random.bits(key, head.shape)
        action = sample_action(spec, params, head, action_noise(spec, bits))
    return clip_action(spec, action)


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
    reset_to = initial_carry(config, (config.num_envs,))

    def env_step(carry, inputs):
        env_state, obs, episode_stats, agent_carry = carry
        keys, action_noise = inputs
        if is_recurrent(config):
            carry_after, core_output = core_step(config, state.params, agent_carry,
                                                 observe(config, state.obs_stats, obs))
            head = policy_module(config).apply(state.params["actor"], core_output)
        else:
            carry_after = core_output = ()
            head = policy_head(config, state.params, observe(config, state.obs_stats, obs))
        mask = env_action_masks(spec, env_state)
        head = legal(head, mask)
        action = sample_action(spec, state.params, head, action_noise)
        step = step_envs(spec, keys, env_state, action)
        episode_stats, episode_return, episode_length = episode_stats_step(episode_stats, step.reward,
                                                                           step.done)
        transition = Transition(
            obs, action, head, step.reward, step.terminated, step.truncated, step.final_obs,
            episode_return, episode_length, core_output, carry_after, mask,
        )
        agent_carry = reset_carry(carry_after, reset_to, step.done) if is_recurrent(config) else ()
        return (step.env_state, step.obs, episode_stats, agent_carry), transition

    carry = (state.env_state, state.obs, state.episode_stats, state.carry)
    (env_state, obs, episode_stats, agent_carry), trajectory = jax.lax.scan(
        env_step, carry, (step_keys, noise))
    state = state._replace(env_state=env_state, obs=obs, episode_stats=episode_stats, carry=agent_carry)
    return state, trajectory


def drift(config: Config, ratio: jax.Array, advantages: jax.Array, progress: jax.Array) -> jax.Array:
    """The objective's drift ``>= 0`` (``progress = n / N`` reaches temporally-aware LPO only)."""
    if config.objective == "clip":
        return clip_drift(ratio, advantages, config.clip_eps)
    if config.objective == "dpo":
        return dpo_drift(ratio, advantages, config.dpo_alpha, config.dpo_beta)
    temporal = lpo_is_temporal(config.drift_params)
    learned = lpo_drift(config.drift_params, ratio, advantages, progress if temporal else None)
    return learned + clip_drift(ratio, advantages, config.clip_eps) if config.drift_clip else learned


def heads(config: Config, params: dict, batch: dict) -> tuple[jax.Array, jax.Array]:
    """``(policy head, V)`` on a minibatch: of transitions ``obs [B, ...]`` (feed-forward), or of
    windows ``obs [T, n, ...]`` unrolled from ``carry`` with resets after ``done``."""
    if is_recurrent(config):
        y = unroll(config, params, batch["carry"], batch["obs"], batch["done"])
        # heads on [T n, size]: their gradients then sum over one batch axis, in the same order
        # whether or not the seed is vmapped (as in the feed-forward case)
        flat = y.reshape((-1, y.shape[-1]))
        head = policy_module(config).apply(params["actor"], flat).reshape((*y.shape[:2], -1))
        values = value_module(config).apply(params["critic"], flat)[..., 0].reshape(y.shape[:2])
    elif config.shared_torso:  # the torso once under both heads
        y = features(config, params["torso"], batch["obs"])
        head = policy_module(config).apply(params["actor"], y)
        values = value_module(config).apply(params["critic"], y)[..., 0]
    else:
        head, values = policy_head(config, params, batch["obs"]), value_head(config, params, batch["obs"])
    return legal(head, batch.get("action_mask")), values


def loss(config: Config, params: dict, batch: dict, progress: jax.Array) -> tuple[jax.Array, dict]:
    spec = env_spec(config)
    head, values = heads(config, params, batch)
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

    ``shuffle_bits`` ``(num_epochs, batch_size)`` fix each epoch's minibatch order: of the
    ``batch_size`` transitions (``batch`` fields ``[batch_size, ...]``), or, with a recurrent
    core, of the ``num_envs`` environments (fields ``[T, num_envs, ...]``, ``carry [num_envs, ...]``).
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
    num_steps = config.num_epochs * config.num_minibatches
    if is_recurrent(config):
        orders = random.permutation(shuffle_bits[:, : config.num_envs]).reshape(-1)
        envs_each = config.num_envs // config.num_minibatches
        windows = {k: v for k, v in batch.items() if k != "carry"}
        minibatches = jax.tree.map(lambda x: jnp.moveaxis(
            x[:, orders].reshape((x.shape[0], num_steps, envs_each, *x.shape[2:])), 1, 0), windows)
        minibatches["carry"] = jax.tree.map(
            lambda c: c[orders].reshape((num_steps, envs_each, *c.shape[1:])), batch["carry"])
    else:
        orders = random.permutation(shuffle_bits).reshape(-1)
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
    stats, window_carry = state.obs_stats, state.carry
    state, traj = collect(config, state, step_keys, noise)

    obs = observe(config, stats, traj.obs)
    final_obs = observe(config, stats, traj.final_obs)
    values, next_values = values_and_next_values(config, state.params, traj, obs, final_obs)
    log_prob, _ = log_prob_and_entropy(env_spec(config), state.params, traj.policy_head, traj.action)
    advantages, targets = gae(
        traj.reward, values, next_values, traj.terminated, traj.truncated,
        config.gamma, config.gae_lambda,
    )
    done = jnp.logical_or(traj.terminated, traj.truncated)
    batch = {
        "obs": obs, "action": traj.action, "log_prob": log_prob, "value": values,
        "advantage": advantages, "target": targets,
    }
    if env_spec(config).has_action_mask:
        batch["action_mask"] = traj.action_mask
    if is_recurrent(config):  # windows [T, num_envs, ...] and the carry they start from
        batch = {**batch, "done": done, "carry": window_carry}
    else:
        batch = jax.tree.map(lambda x: x.reshape((config.batch_size, *x.shape[2:])), batch)
    state, learn_metrics = learn(config, state, batch, shuffle_bits)

    if config.normalize_obs:
        state = state._replace(obs_stats=running_stats_update(stats, traj.obs.astype(jnp.float32)))
    metrics = {
        "env_steps": (state.iteration + 1) * config.batch_size,
        **finished_episode_metrics(traj.episode_return, traj.episode_length, done),
        **learn_metrics,
        "learning_rate": learning_rate(config.lr, config.anneal_lr, state.iteration, config.num_iterations),
    }
    return state._replace(key=key, iteration=state.iteration + 1), metrics


VALUE_ROWS_PER_PASS = 16_384
"""Observations per pass of the critic over a rollout: a whole batch at once held every layer's
activations for ``2 T N`` observations (13 GB a seed for a CNN at 4,096 envs x 128 steps)."""


def values_and_next_values(config: Config, params: dict, traj: Transition, obs: jax.Array,
                           final_obs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``V(s_t)`` and ``V(s'_t)`` ``[T, N]``, feed-forward in passes of about ``VALUE_ROWS_PER_PASS``
    observations (whole time steps; one pass when the rollout is smaller). With a recurrent core
    ``V(s_t)`` reads the rollout's core outputs and ``V(s'_t)`` steps the core once more from the
    carry after step ``t`` (before an episode end reset it) on ``final_obs``."""
    if not is_recurrent(config):
        both = jnp.stack([obs, final_obs], axis=1)  # [T, 2, N, ...]
        steps_per_pass = max(1, VALUE_ROWS_PER_PASS // (2 * config.num_envs))
        values = jax.lax.map(lambda step: value_head(config, params, step), both, batch_size=steps_per_pass)
        return values[:, 0], values[:, 1]
    flat = lambda x: x.reshape((-1, *x.shape[2:]))  # noqa: E731
    _, y_next = core_step(config, params, jax.tree.map(flat, traj.carry_after), flat(final_obs))
    values = value_module(config).apply(params["critic"], traj.core_output)[..., 0]
    next_values = value_module(config).apply(params["critic"], y_next)[..., 0].reshape(values.shape)
    return values, next_values


def train(config: Config, key: jax.Array) -> tuple[State, dict]:
    """``init`` and every iteration in one ``lax.scan``; metrics have one row per log point."""
    return scan_iterations(update, config, init(config, key), config.num_iterations)
