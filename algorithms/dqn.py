"""Deep Q-learning: DQN (Mnih et al., 2015) with double-DQN targets (van Hasselt et al., 2016),
C51 (Bellemare et al., 2017) and QR-DQN (Dabney et al., 2018), for discrete actions.

The three variants share everything but the network's head and the loss. The
Q-network maps an observation to ``[num_actions, H]`` outputs: one value
(``dqn``, ``H = 1``), ``num_atoms`` logits of a categorical return distribution
on the fixed support ``z_j = v_min + j (v_max - v_min) / (num_atoms - 1)``
(``c51``), or ``num_quantiles`` quantiles at ``tau_i = (2i + 1) / (2N)``
(``qrdqn``). ``Q(s, a)`` is the value, ``sum_j p_j(s, a) z_j``, or the quantiles' mean.

One ``update`` is one iteration:

1. Act epsilon-greedily on ``Q(s, .; theta)`` in ``num_envs`` environments for one
   step, ``epsilon`` going linearly from ``epsilon_start`` to ``epsilon_end`` over
   the first ``epsilon_fraction`` of ``total_timesteps`` (uniformly random
   actions until ``learning_starts`` environment steps); store
   ``(s, a, r, terminated, s')`` in the replay buffer, ``s'`` the true next
   observation even when the episode ended (``purejaxrl.offpolicy``).
2. Once ``learning_starts`` steps have been taken: ``updates_per_step`` Adam steps,
   each on ``batch_size`` uniformly sampled transitions. With ``d = gamma (1 - terminated)``
   (time limits bootstrap) and the next action picked by the online network
   (double; the target network's if ``double=False``),

       a* = argmax_a Q(s', a; theta),

   the variants' targets and losses are (``theta^-`` the target network)

       dqn:   y = r + d Q(s', a*; theta^-),
              L = (Q(s, a; theta) - y)^2 / 2
       c51:   m = Phi(r + d z, p(s', a*; theta^-)),       Phi the categorical projection
              L = -sum_j m_j log p_j(s, a; theta)         (cross-entropy)
       qrdqn: y_j = r + d theta_j(s', a*; theta^-),
              L = sum_i 1/N sum_j |tau_i - 1{y_j < theta_i}| H_kappa(y_j - theta_i) / kappa,

   averaged over the batch (``purejaxrl.distributional`` has ``Phi`` and the
   quantile Huber loss with their maths), gradients clipped to ``max_grad_norm``.
3. Every ``target_update_period`` iterations (once learning),
   ``theta^- <- tau theta + (1 - tau) theta^-`` (``tau = 1``: a hard copy).

Action masks (an environment with ``action_mask``, ``purejaxrl.envs.masks``): the greedy
action is ``argmax`` over the legal actions, exploration draws uniformly among them, and
``a*`` is the ``argmax`` over the legal actions at ``s'`` (the replay stores
``info["final_action_mask"]`` with ``s'``). Without a mask none of this is traced.

``train`` is ``init`` followed by a ``lax.scan`` of ``update`` over all
iterations: one XLA program, deterministic given ``(config, key)``. Warm-up and
the target period are ``jnp.where`` selects on the iteration counter, so a
seed computes the same inside a vmapped batch as alone.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from purejaxrl import random
from purejaxrl.config import (
    check,
    frozen_kwargs,
    pytree_dataclass,
    require,
    require_bools,
    require_ints,
    require_ordered,
    static,
)
from purejaxrl.distributional import (
    categorical_mean,
    categorical_projection,
    categorical_support,
    quantile_huber_loss,
    quantile_midpoints,
)
from purejaxrl.distributions import log_softmax, uniform_legal_action
from purejaxrl.env_spec import EnvSpec, checked_env_spec, require_registered_env
from purejaxrl.env_spec import env_spec as make_env_spec
from purejaxrl.loop import scan_iterations
from purejaxrl.networks import Dense, apply_torso, build_torso, require_mlp, require_torso, set_config_torso
from purejaxrl.offpolicy import (
    Rollout,
    Transition,
    mask_example,
    polyak,
    replay_slots,
    require_replay_budget,
    rollout_action_mask,
    rollout_init,
    rollout_step,
    transition_example,
    where_tree,
)
from purejaxrl.optim import clip_by_global_norm, learning_rate
from purejaxrl.ordered import ordered_mean, ordered_sum_broadcast_grad
from purejaxrl.replay import Replay, add_and_sample, replay_init

VARIANTS = ("dqn", "c51", "qrdqn")
# Adam's step size when ``Config.lr`` is None. CartPole, default config, 4 seeds: DQN's IQM
# was 476/352 on key sets 0/1 at 2.5e-4 and 451/492 (and 489 over 16 seeds) at 1e-4; C51's
# 459/500 at 2.5e-4 and 323/460 at 1e-4 (experiments/RESULTS.md).
DEFAULT_LR = {"dqn": 1e-4, "c51": 2.5e-4, "qrdqn": 1e-4}


@pytree_dataclass
class Config:
    """DQN / C51 / QR-DQN hyperparameters. Defaults are one config for the three variants on
    CartPole-v1 but for Adam's step size (``lr = None``: ``DEFAULT_LR``, 1e-4 for DQN and
    QR-DQN, 2.5e-4 for C51); IQMs of final returns over 4 seeds in 500k steps are in
    ``experiments/RESULTS.md`` (``experiments/dqn_cartpole.py``). Single seeds still end
    at 160-370 now and then: DQN's final returns on CartPole oscillate.

    Static fields (recompile when changed): ``env``, ``env_kwargs``, ``variant``,
    ``total_timesteps``, ``num_envs``, ``buffer_size``, ``batch_size``,
    ``updates_per_step``, ``learning_starts``, ``target_update_period``,
    ``double``, ``anneal_lr``, ``torso``, ``hidden_sizes``, ``activation``, ``num_atoms``,
    ``num_quantiles``, ``num_log_points``. The rest are traced and can be
    vmapped (``purejaxrl.sweep``).

    Units: ``buffer_size`` counts transitions over all environments (``buffer_size // num_envs``
    slots of one step of every environment), ``learning_starts`` environment steps, and
    ``target_update_period`` iterations (one iteration = one step of all
    ``num_envs`` environments, then ``updates_per_step`` gradient steps).

    ``v_min``/``v_max`` bound C51's support: set them to the range of discounted
    returns (CartPole: 0 to ``1 / (1 - gamma)`` = 100). ``kappa`` is QR-DQN's Huber
    threshold in return units: 10 here (returns up to 100); the paper's 1 (Atari,
    clipped rewards) let Q diverge on CartPole in 4 of 4 seeds; kappa 5 left seeds at 100-380.
    The defaults otherwise follow PureJaxRL's and CleanRL's CartPole DQN (10 envs, batch
    128, target copied every 500 steps, 10k warm-up steps, epsilon to 0.05
    over half the run), with a 50k-transition buffer (DQN's IQM 402 with 10k, 464 with 50k,
    one key set) and 64-unit layers (487 against 464 with 120 and 84 units).
    """

    env: str = static("CartPole-v1")
    """environment id, discrete actions (purejaxrl envs lists them)"""
    env_kwargs: tuple = static(())
    """keyword arguments for envs.make, as KEY=VALUE"""
    variant: str = static("dqn")
    """dqn (one value per action), c51 (a categorical return distribution) or qrdqn (quantiles)"""
    total_timesteps: int = static(500_000)
    """environment steps"""
    num_envs: int = static(10)
    """parallel environments"""
    buffer_size: int = static(50_000)
    """replay buffer size, in transitions over all environments"""
    batch_size: int = static(128)
    """transitions per gradient step"""
    updates_per_step: int = static(1)
    """gradient steps per iteration"""
    learning_starts: int = static(10_000)
    """environment steps before learning"""
    target_update_period: int = static(50)
    """iterations between target updates (50 x 10 envs = 500 steps)"""
    double: bool = static(True)
    """double-DQN action selection"""
    torso: str = static("auto")
    """observation -> features: auto (cnn on [H, W, C], else mlp), mlp, cnn, or package.module:Name (flax)"""
    hidden_sizes: tuple[int, ...] = static((64, 64))
    """dense layer widths of the torso (mlp; cnn after its convolutions)"""
    activation: str = static("relu")
    """hidden activation of the mlp torso: tanh, relu, silu, swish, gelu or elu"""
    num_atoms: int = static(51)
    """C51 atoms K"""
    num_quantiles: int = static(32)
    """QR-DQN quantiles N"""
    num_log_points: int = static(100)
    """metric rows"""
    anneal_lr: bool = static(False)
    """decay the step size linearly to 0"""
    lr: float | None = None
    """Adam step size; None: DEFAULT_LR[variant] (1e-4 for dqn and qrdqn, 2.5e-4 for c51)"""
    adam_eps: float = 1e-8
    """Adam epsilon"""
    max_grad_norm: float = 10.0
    """global gradient-norm clip"""
    gamma: float = 0.99
    """discount"""
    epsilon_start: float = 1.0
    """initial exploration rate"""
    epsilon_end: float = 0.05
    """final exploration rate"""
    epsilon_fraction: float = 0.5
    """share of total_timesteps over which epsilon decays"""
    v_min: float = 0.0
    """C51 support's lower bound"""
    v_max: float = 100.0
    """C51 support's upper bound"""
    kappa: float = 10.0
    """QR-DQN Huber threshold"""
    tau: float = 1.0
    """target update rate (1 = hard copy)"""

    def __post_init__(self):
        object.__setattr__(self, "env_kwargs", frozen_kwargs(self.env_kwargs))
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        set_config_torso(self)
        validate(self)

    @property
    def steps_per_iteration(self) -> int:
        """Environment steps per ``update`` (what the runner counts): ``num_envs``."""
        return self.num_envs

    @property
    def num_iterations(self) -> int:
        """``total_timesteps // num_envs`` (the remainder is not trained)."""
        return self.total_timesteps // self.num_envs

    @property
    def base_lr(self) -> Any:
        """``lr``, or when it is ``None`` the variant's default (``DEFAULT_LR``)."""
        return DEFAULT_LR[self.variant] if self.lr is None else self.lr

    @property
    def replay_capacity(self) -> int:
        """Ring slots, one step of every environment each (``offpolicy.replay_slots``)."""
        return replay_slots(self)

    @property
    def head_size(self) -> int:
        """Outputs per action: 1 (``dqn``), ``num_atoms`` (``c51``) or ``num_quantiles`` (``qrdqn``)."""
        return {"dqn": 1, "c51": self.num_atoms, "qrdqn": self.num_quantiles}[self.variant]


def validate(config: Config) -> None:
    """Raise ``ConfigError`` naming the field of an impossible config."""
    require_registered_env(config)
    require(config.variant in VARIANTS, config, "variant",
            f"unknown {config.variant!r}; choose one of {list(VARIANTS)}")
    require_replay_budget(config)
    require_ints(config, ("target_update_period",))
    require_ints(config, ("num_atoms",), minimum=2)
    require_ints(config, ("num_quantiles",), minimum=1)
    require_bools(config, ("double", "anneal_lr"))
    require_mlp(config)
    spec = checked_env_spec(config)
    require(not spec.continuous, config, "env",
            f"{config.variant} needs a discrete action space; {config.env!r} has a continuous one "
            "(use sac or ppo)")
    require_torso(config, torso_module(config), spec.obs_shape)
    if config.lr is not None:
        check(config, "lr", lambda v: v > 0, "positive")
    check(config, "adam_eps", lambda v: v > 0, "positive")
    check(config, "max_grad_norm", lambda v: v > 0, "positive", allow_inf=True)
    check(config, "gamma", lambda v: (v >= 0) & (v <= 1), "in [0, 1]")
    check(config, "epsilon_start", lambda v: (v >= 0) & (v <= 1), "in [0, 1]")
    check(config, "epsilon_end", lambda v: (v >= 0) & (v <= 1), "in [0, 1]")
    check(config, "epsilon_fraction", lambda v: v > 0, "positive")
    check(config, "kappa", lambda v: v > 0, "positive")
    check(config, "tau", lambda v: (v > 0) & (v <= 1), "in (0, 1]")
    require_ordered(config, "v_min", "v_max")


# --------------------------------------------------------------------------- environment


def env_spec(config: Config) -> EnvSpec:
    return make_env_spec(config.env, config.env_kwargs)


# --------------------------------------------------------------------------- state


class State(NamedTuple):
    params: dict
    target_params: dict
    opt_state: Any
    replay: Replay
    rollout: Rollout
    epsilon: jax.Array  # the schedule's value (exploration_epsilon: 1 during warm-up)
    epsilon_decrement: jax.Array
    key: jax.Array
    iteration: jax.Array


def optimizer(config: Config) -> optax.GradientTransformation:
    """Gradient clipping and Adam's scaling on the raveled parameters; ``lr`` is applied in ``learn``."""
    return optax.chain(clip_by_global_norm(config.max_grad_norm), optax.scale_by_adam(eps=config.adam_eps))


def init(config: Config, key: jax.Array) -> State:
    spec = env_spec(config)
    key, net_key, env_key = jax.random.split(key, 3)
    torso_key, head_key = jax.random.split(net_key)
    rollout = rollout_init(spec, config.num_envs, env_key)
    torso = torso_module(config).init(torso_key, rollout.obs.astype(jnp.float32))
    params = {"torso": torso, "q": q_head(config).init(head_key, features(config, torso, rollout.obs[:1]))}
    obs = rollout.obs[0]
    example = transition_example(obs, jnp.int32(0), mask_example(spec))
    epsilon, epsilon_decrement = epsilon_schedule_init(config)
    return State(
        params=params,
        target_params=params,
        opt_state=optimizer(config).init(ravel_pytree(params)[0]),
        replay=replay_init(example, config.replay_capacity, config.num_envs),
        rollout=rollout,
        epsilon=epsilon,
        epsilon_decrement=epsilon_decrement,
        key=key,
        iteration=jnp.zeros((), jnp.int32),
    )


def parameters(state: State) -> dict:
    """What training learns (``check_finite`` watches it): online and target networks, Adam's moments."""
    return {"params": state.params, "target_params": state.target_params, "opt_state": state.opt_state}


# --------------------------------------------------------------------------- network heads


def torso_module(config: Config):
    """The torso (a ``flax.linen`` module) the config names: by default an MLP of ``hidden_sizes``."""
    return build_torso(config.torso, env_spec(config).obs_shape, config.hidden_sizes, config.activation)


def q_head(config: Config) -> Dense:
    """A linear layer from the torso's features to ``num_actions * head_size`` outputs."""
    return Dense(env_spec(config).action_dim * config.head_size, 1.0)


def features(config: Config, torso: dict, obs: jax.Array) -> jax.Array:
    """The torso's features ``[..., F]`` of raw observations ``[..., *obs_shape]``."""
    return apply_torso(torso_module(config), torso, obs.astype(jnp.float32), len(env_spec(config).obs_shape))


def q_network(config: Config, params: dict, obs: jax.Array) -> jax.Array:
    """Raw outputs ``[..., num_actions, head_size]`` for raw observations ``[..., *obs_shape]``."""
    spec = env_spec(config)
    out = q_head(config).apply(params["q"], features(config, params["torso"], obs))
    return out.reshape((*out.shape[:-1], spec.action_dim, config.head_size))


def q_values(config: Config, out: jax.Array) -> jax.Array:
    """``Q(s, a)`` from the head ``[..., head_size]``: the value, the categorical mean, or the
    quantiles' mean."""
    if config.variant == "c51":
        support = categorical_support(config.v_min, config.v_max, config.num_atoms)
        return categorical_mean(jnp.exp(log_softmax(out)), support)
    if config.variant == "qrdqn":
        return ordered_mean(out, axis=-1)
    return out[..., 0]


def sample_target(config: Config, next_out: jax.Array, reward: jax.Array, discount: jax.Array) -> jax.Array:
    """``r + d`` times every output of the target head: ``y = r + d Q(s', a*; theta^-)`` (``dqn``,
    ``[B, 1]``) or ``y_j = r + d theta_j(s', a*; theta^-)`` (``qrdqn``, ``[B, num_quantiles]``)."""
    return reward[:, None] + discount[:, None] * next_out


def dqn_loss(config: Config, out: jax.Array, target: jax.Array) -> jax.Array:
    """``(Q(s, a) - y)^2 / 2`` per sample.

    Not Huber: on CartPole (returns ~100, rewards 1) Huber's unit-bounded gradients let the many
    bootstrapped transitions outvote the few terminal ones: Q diverged (to 1e5 in a 100k-step run,
    4 of 4 seeds) where the squared error learned."""
    return 0.5 * jnp.square(out[:, 0] - target[:, 0])


def c51_target(config: Config, next_out: jax.Array, reward: jax.Array, discount: jax.Array) -> jax.Array:
    """``m = Phi(r + d z, p(s', a*; theta^-))``, ``[B, num_atoms]``."""
    support = categorical_support(config.v_min, config.v_max, config.num_atoms)
    atoms = reward[:, None] + discount[:, None] * support
    return categorical_projection(atoms, jnp.exp(log_softmax(next_out)), support)


def c51_loss(config: Config, out: jax.Array, target: jax.Array) -> jax.Array:
    """Cross-entropy ``-sum_j m_j log p_j(s, a)`` per sample."""
    return -ordered_sum_broadcast_grad(target * log_softmax(out), -1)


def qrdqn_loss(config: Config, out: jax.Array, target: jax.Array) -> jax.Array:
    """Quantile Huber loss per sample."""
    return quantile_huber_loss(out, target, quantile_midpoints(config.num_quantiles), config.kappa)


TARGETS = {"dqn": sample_target, "c51": c51_target, "qrdqn": sample_target}
LOSSES = {"dqn": dqn_loss, "c51": c51_loss, "qrdqn": qrdqn_loss}


# --------------------------------------------------------------------------- policy


def epsilon_schedule_init(config: Config) -> tuple[jax.Array, jax.Array]:
    """``(epsilon_start, decrement per iteration)``: ``epsilon_start - epsilon_end`` spread over the
    ``epsilon_fraction * total_timesteps / num_envs`` iterations of the decay.

    The schedule is carried in the state and stepped by subtraction (``epsilon_schedule_step``)
    rather than computed as ``start + (end - start) * t / T`` each iteration: XLA:CPU contracted
    that multiply-add into an FMA in some compiled programs and not in others, so ``train`` and
    the runner's chunks disagreed in epsilon's last bit, and ``u < epsilon`` picks actions.
    """
    start = jnp.asarray(config.epsilon_start, jnp.float32)
    decay_iterations = config.epsilon_fraction * config.total_timesteps / config.num_envs
    return start, (start - config.epsilon_end) / decay_iterations


def epsilon_schedule_step(config: Config, epsilon: jax.Array, decrement: jax.Array) -> jax.Array:
    """``epsilon - decrement``, stopping at ``epsilon_end``."""
    moved = epsilon - decrement
    end = jnp.asarray(config.epsilon_end, jnp.float32)
    return jnp.where(config.epsilon_start >= config.epsilon_end, jnp.maximum(moved, end),
                     jnp.minimum(moved, end))


def exploration_epsilon(config: Config, state: State) -> jax.Array:
    """1 before ``learning_starts`` environment steps (uniform actions), then the schedule's
    ``epsilon``: ``epsilon_start -> epsilon_end`` linearly over the first ``epsilon_fraction``
    of ``total_timesteps``, counted from step 0."""
    warming_up = state.iteration * config.num_envs < config.learning_starts
    return jnp.where(warming_up, 1.0, state.epsilon).astype(jnp.float32)


def epsilon_greedy(greedy: jax.Array, epsilon: jax.Array, key: jax.Array, num_actions: int,
                   action_mask: jax.Array | None = None) -> jax.Array:
    """``greedy`` with probability ``1 - epsilon``, else a uniformly random action (same shape),
    uniform over the legal actions of ``action_mask`` (``bool[..., num_actions]``) when given."""
    bits = random.bits(key, (2, *greedy.shape))
    explore = random.uniform_open(bits[0]) < epsilon
    if action_mask is None:
        uniform = jnp.minimum(random.uniform_open(bits[1]) * num_actions, num_actions - 1).astype(jnp.int32)
    else:
        uniform = uniform_legal_action(random.uniform_open(bits[1]), action_mask)
    return jnp.where(explore, uniform, greedy)


def masked_argmax(values: jax.Array, action_mask: jax.Array | None) -> jax.Array:
    """``argmax_a values[..., a]`` over the legal actions (``action_mask`` True; every action when
    ``None``): illegal values count as ``-inf``."""
    if action_mask is not None:
        values = jnp.where(action_mask, values, -jnp.inf)
    return jnp.argmax(values, axis=-1).astype(jnp.int32)


def greedy_actions(config: Config, params: dict, obs: jax.Array, action_mask: jax.Array | None = None
                   ) -> jax.Array:
    """``argmax_a Q(s, a)`` over the legal actions."""
    return masked_argmax(q_values(config, q_network(config, params, obs)), action_mask)


def act(config: Config, state: State, obs: jax.Array, key: jax.Array, deterministic: bool = False,
        action_mask: jax.Array | None = None):
    """Greedy (``deterministic``) or epsilon-greedy actions (``exploration_epsilon`` of ``state``),
    for a single observation or a batch (leading axes are kept). ``action_mask``
    (``bool[..., num_actions]``, True = legal; the environment's ``envs.action_mask``) limits
    both the argmax and the random actions to the legal ones; ``None``: every action is legal."""
    greedy = greedy_actions(config, state.params, obs, action_mask)
    if deterministic:
        return greedy
    epsilon = exploration_epsilon(config, state)
    return epsilon_greedy(greedy, epsilon, key, env_spec(config).action_dim, action_mask)


# --------------------------------------------------------------------------- update


def td_target(config: Config, params: dict, target_params: dict, batch: Transition) -> jax.Array:
    """The variant's target for ``batch``, next action ``a*`` by the online (double) or target net,
    over the legal actions at ``s'`` (``batch.next_action_mask``) when the environment has a mask."""
    next_target = q_network(config, target_params, batch.next_obs)  # [B, A, H]
    selector = q_network(config, params, batch.next_obs) if config.double else next_target
    next_action = masked_argmax(q_values(config, selector), batch.next_action_mask)
    next_out = jnp.take_along_axis(next_target, next_action[:, None, None], axis=1)[:, 0]
    discount = config.gamma * (1.0 - batch.terminated.astype(jnp.float32))
    return TARGETS[config.variant](config, next_out, batch.reward, discount)


def loss(config: Config, params: dict, batch: Transition, target: jax.Array) -> tuple[jax.Array, dict]:
    out = q_network(config, params, batch.obs)
    taken = jnp.take_along_axis(out, batch.action[:, None, None].astype(jnp.int32), axis=1)[:, 0]
    value = ordered_mean(LOSSES[config.variant](config, taken, target))
    return value, {"loss": value, "q_mean": ordered_mean(q_values(config, taken))}


def learn(config: Config, state: State, batches: Transition) -> tuple[dict, Any, dict]:
    """One Adam step on each of ``batches`` (leaves ``[updates_per_step, batch_size, ...]``, uniform
    samples); returns params, optimiser state, metrics."""
    tx = optimizer(config)
    lr = learning_rate(config.base_lr, config.anneal_lr, state.iteration, config.num_iterations)
    flat_params, unflatten = ravel_pytree(state.params)
    grad_fn = jax.grad(lambda flat, batch, target: loss(config, unflatten(flat), batch, target), has_aux=True)

    def step(carry, batch):
        flat, opt_state = carry
        target = td_target(config, unflatten(flat), state.target_params, batch)
        grads, info = grad_fn(flat, batch, target)
        updates, opt_state = tx.update(grads, opt_state, flat)
        return (flat - lr * updates, opt_state), info

    (flat_params, opt_state), info = jax.lax.scan(step, (flat_params, state.opt_state), batches)
    return unflatten(flat_params), opt_state, jax.tree.map(ordered_mean, info)


def update(config: Config, state: State) -> tuple[State, dict]:
    """One iteration: one epsilon-greedy step of every environment (over its legal actions), then
    learning once warmed up.

    Metrics: ``env_steps``, the finished episodes' ``episode_return``/``episode_length``/``episodes``,
    ``loss`` and ``q_mean`` (mean ``Q(s, a)`` over the sampled batches; computed during warm-up
    too, where the update is not applied) and the ``epsilon`` the step acted with.
    """
    spec = env_spec(config)
    key, act_key, env_key, learn_key = jax.random.split(state.key, 4)
    epsilon = exploration_epsilon(config, state)
    action_mask = rollout_action_mask(spec, state.rollout)  # None without a mask
    greedy = greedy_actions(config, state.params, state.rollout.obs, action_mask)
    action = epsilon_greedy(greedy, epsilon, act_key, spec.action_dim, action_mask)
    rollout, transition, episode_metrics = rollout_step(spec, state.rollout, action, env_key)
    sample_keys = jax.random.split(learn_key, config.updates_per_step)
    replay, batches = add_and_sample(state.replay, transition, sample_keys, config.batch_size)

    iteration = state.iteration + 1
    env_steps = iteration * config.num_envs
    learning = env_steps >= config.learning_starts
    params, opt_state, learn_metrics = learn(config, state, batches)
    params, opt_state = where_tree(learning, (params, opt_state), (state.params, state.opt_state))
    refresh = learning & (iteration % config.target_update_period == 0)
    target_params = where_tree(refresh, polyak(state.target_params, params, config.tau), state.target_params)

    metrics = {"env_steps": env_steps, **episode_metrics, **learn_metrics, "epsilon": epsilon}
    next_epsilon = epsilon_schedule_step(config, state.epsilon, state.epsilon_decrement)
    state = State(params, target_params, opt_state, replay, rollout, next_epsilon, state.epsilon_decrement,
                  key, iteration)
    return state, metrics


def train(config: Config, key: jax.Array) -> tuple[State, dict]:
    """``init`` and every iteration in one ``lax.scan``; metrics have one row per log point."""
    return scan_iterations(update, config, init(config, key), config.num_iterations)
