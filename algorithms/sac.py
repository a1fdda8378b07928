"""Soft Actor-Critic (Haarnoja et al., 2018), continuous and discrete (Christodoulou, 2019).

One ``update`` is one iteration: every one of ``num_envs`` environments takes a
step (uniformly random actions until ``learning_starts`` environment steps,
then ``a ~ pi(.|s)``), the transitions go to the replay buffer, and
``updates_per_step`` gradient steps follow on uniformly sampled batches
(update-to-data ratio ``updates_per_step / num_envs``). Each gradient step:

    critic   y = r + gamma (1 - terminated) [min_j Q'_j(s', a') - alpha log pi(a'|s')],  a' ~ pi(.|s')
             L_Q = sum_j mean (Q_j(s, a) - y)^2
    actor    L_pi = mean [alpha log pi(a~|s) - min_j Q_j(s, a~)],  a~ ~ pi(.|s) (reparameterised)
    alpha    L_alpha = -mean [log alpha (log pi(a~|s) + H_target)]
    targets  Q'_j <- tau Q_j + (1 - tau) Q'_j

Continuous actions are a tanh-squashed Gaussian scaled to the action space's
bounds (``purejaxrl.distributions.squashed_gaussian_sample``, log-probability
corrected for the squashing) with ``H_target = -|A|``. With discrete actions
the policy is categorical, the critics output one value per action,
expectations over ``pi(.|s)`` replace the samples, and
``H_target = target_entropy_scale * log |A|``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from purejaxrl import random
from purejaxrl.config import check, frozen_kwargs, pytree_dataclass, static
from purejaxrl.distributions import (
    categorical_sample_with_gumbel,
    log_softmax,
    squashed_gaussian_mode,
    squashed_gaussian_sample,
)
from purejaxrl.env_spec import EnvSpec, checked_env_spec, require_registered_env
from purejaxrl.env_spec import env_spec as make_env_spec
from purejaxrl.loop import scan_iterations
from purejaxrl.networks import (
    flatten_obs,
    layers_from_weights,
    mlp_apply,
    mlp_gains,
    mlp_shapes,
    orthogonal_init,
    require_mlp,
)
from purejaxrl.offpolicy import (
    Rollout,
    Transition,
    polyak,
    replay_slots,
    require_replay_budget,
    rollout_init,
    rollout_step,
    transition_example,
    uniform_actions,
    where_tree,
)
from purejaxrl.ordered import ordered_mean, ordered_sum
from purejaxrl.replay import Replay, replay_add, replay_init, sample_uniform

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


@pytree_dataclass
class Config:
    """SAC hyperparameters; defaults reach a final return above -250 on Pendulum-v1 in 20k steps.

    Static (recompile when changed): ``env``, ``env_kwargs``, ``total_timesteps``,
    ``num_envs``, ``buffer_size`` (transitions over all envs), ``batch_size``,
    ``learning_starts`` (environment steps of random actions before learning),
    ``updates_per_step`` (gradient steps per iteration), ``hidden_sizes``,
    ``activation``, ``num_log_points``. Traced: ``lr`` (actor, critics and
    temperature), ``gamma``, ``tau``, ``init_alpha``, ``target_entropy_scale``
    (discrete actions only).
    """

    env: str = static("Pendulum-v1")
    """environment id (purejaxrl envs lists them)"""
    env_kwargs: tuple = static(())
    """keyword arguments for envs.make, as KEY=VALUE"""
    total_timesteps: int = static(20_000)
    """environment steps"""
    num_envs: int = static(1)
    """parallel environments"""
    buffer_size: int = static(100_000)
    """replay buffer size, in transitions over all environments"""
    batch_size: int = static(256)
    """transitions per gradient step"""
    learning_starts: int = static(1_000)
    """environment steps of uniformly random actions before learning"""
    updates_per_step: int = static(1)
    """gradient steps per iteration"""
    hidden_sizes: tuple[int, ...] = static((256, 256))
    """actor and critic widths"""
    activation: str = static("relu")
    """hidden activation: tanh, relu, silu, swish, gelu or elu"""
    num_log_points: int = static(100)
    """metric rows"""
    lr: float = 3e-4
    """Adam step size (actor, critics, temperature)"""
    gamma: float = 0.99
    """discount"""
    tau: float = 0.005
    """Polyak rate of the target critics"""
    init_alpha: float = 1.0
    """initial temperature"""
    target_entropy_scale: float = 0.98
    """discrete actions only: target entropy = scale * log |A|"""

    def __post_init__(self):
        object.__setattr__(self, "env_kwargs", frozen_kwargs(self.env_kwargs))
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        validate(self)

    @property
    def num_iterations(self) -> int:
        """``total_timesteps // num_envs`` (the remainder is not taken)."""
        return self.total_timesteps // self.num_envs

    @property
    def steps_per_iteration(self) -> int:
        return self.num_envs

    @property
    def replay_capacity(self) -> int:
        """Ring slots, one step of every environment each (``offpolicy.replay_slots``)."""
        return replay_slots(self)


def validate(config: Config) -> None:
    """Raise ``ConfigError`` naming the field of an impossible config."""
    require_registered_env(config)
    require_replay_budget(config)
    require_mlp(config)
    checked_env_spec(config)  # builds: the env kwargs are accepted, the action space is usable
    check(config, "lr", lambda v: v > 0, "positive")
    check(config, "gamma", lambda v: (v >= 0) & (v <= 1), "in [0, 1]")
    check(config, "tau", lambda v: (v > 0) & (v <= 1), "in (0, 1]")
    check(config, "init_alpha", lambda v: v > 0, "positive")
    check(config, "target_entropy_scale", lambda v: (v >= 0) & (v <= 1), "in [0, 1]")


def env_spec(config: Config) -> EnvSpec:
    return make_env_spec(config.env, config.env_kwargs)


def target_entropy(config: Config, spec: EnvSpec) -> jax.Array:
    """``-|A|`` for continuous actions, ``target_entropy_scale * log |A|`` for discrete."""
    if spec.continuous:
        return jnp.float32(-spec.action_dim)
    return config.target_entropy_scale * np.float32(np.log(spec.action_dim))


# --------------------------------------------------------------------------- state


class Learner(NamedTuple):
    actor: list
    critics: tuple[list, list]
    target_critics: tuple[list, list]
    log_alpha: jax.Array
    actor_opt: Any
    critic_opt: Any
    alpha_opt: Any


class State(NamedTuple):
    learner: Learner
    buffer: Replay
    rollout: Rollout
    key: jax.Array
    iteration: jax.Array


def optimizer(config: Config) -> optax.GradientTransformation:
    return optax.adam(config.lr)


def init(config: Config, key: jax.Array) -> State:
    spec = env_spec(config)
    net_key, env_key, key = jax.random.split(key, 3)
    actor_out = 2 * spec.action_dim if spec.continuous else spec.action_dim
    critic_in = spec.obs_dim + (spec.action_dim if spec.continuous else 0)
    critic_out = 1 if spec.continuous else spec.action_dim
    actor_shapes = mlp_shapes(spec.obs_dim, config.hidden_sizes, actor_out)
    critic_shapes = mlp_shapes(critic_in, config.hidden_sizes, critic_out)
    gains = mlp_gains(config.hidden_sizes, 0.01) + 2 * mlp_gains(config.hidden_sizes, 1.0)
    weights = orthogonal_init(net_key, actor_shapes + 2 * critic_shapes, gains)
    n = len(actor_shapes)
    actor = layers_from_weights(weights[:n])
    critics = (layers_from_weights(weights[n:2 * n]), layers_from_weights(weights[2 * n:]))
    log_alpha = jnp.log(jnp.asarray(config.init_alpha, jnp.float32))
    tx = optimizer(config)
    learner = Learner(actor, critics, critics, log_alpha,
                      tx.init(actor), tx.init(critics), tx.init(log_alpha))
    example = transition_example(
        jnp.zeros((spec.obs_dim,), jnp.float32),
        jnp.zeros((spec.action_dim,), jnp.float32) if spec.continuous else jnp.int32(0))
    buffer = replay_init(example, config.replay_capacity, config.num_envs)
    return State(learner, buffer, rollout_init(spec, config.num_envs, env_key), key, jnp.zeros((), jnp.int32))


def parameters(state: State) -> Learner:
    """What training learns (``check_finite`` watches it): actor, critics, targets, alpha, optimisers."""
    return state.learner


# --------------------------------------------------------------------------- policy and critics


def observe(config: Config, obs: jax.Array) -> jax.Array:
    return flatten_obs(obs, env_spec(config).obs_shape)


def actor_head(config: Config, actor: list, obs: jax.Array) -> jax.Array:
    return mlp_apply(actor, obs, config.activation)


def gaussian_params(spec: EnvSpec, head: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean and ``log_std`` squashed smoothly into ``[LOG_STD_MIN, LOG_STD_MAX]``."""
    mean, raw = jnp.split(head, [spec.action_dim], axis=-1)
    log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (jnp.tanh(raw) + 1.0)
    return mean, log_std


def sample_continuous(spec: EnvSpec, head: jax.Array, noise: jax.Array) -> tuple[jax.Array, jax.Array]:
    mean, log_std = gaussian_params(spec, head)
    return squashed_gaussian_sample(mean, log_std, noise, spec.action_low, spec.action_high)


def q_values(config: Config, critic: list, obs: jax.Array, action: jax.Array | None) -> jax.Array:
    """``Q(s, a)`` (continuous: ``action`` given) or ``Q(s, .)`` over all actions (discrete)."""
    if action is None:
        return mlp_apply(critic, obs, config.activation)
    return mlp_apply(critic, jnp.concatenate([obs, action], axis=-1), config.activation)[..., 0]


def min_q(config: Config, critics: tuple, obs: jax.Array, action: jax.Array | None) -> jax.Array:
    return jnp.minimum(q_values(config, critics[0], obs, action), q_values(config, critics[1], obs, action))


def act(config: Config, state: State, obs: jax.Array, key: jax.Array, deterministic: bool = False):
    """Actions for a single observation or a batch (leading axes are kept)."""
    spec = env_spec(config)
    head = actor_head(config, state.learner.actor, observe(config, obs))
    if spec.continuous:
        mean, _ = gaussian_params(spec, head)
        if deterministic:
            return squashed_gaussian_mode(mean, spec.action_low, spec.action_high)
        return sample_continuous(spec, head, random.normal(random.bits(key, mean.shape)))[0]
    if deterministic:
        return jnp.argmax(head, axis=-1).astype(jnp.int32)
    return categorical_sample_with_gumbel(head, random.gumbel(random.bits(key, head.shape)))


# --------------------------------------------------------------------------- losses


def critic_loss(config: Config, spec: EnvSpec, critics: tuple, target_critics: tuple, actor: list,
                alpha: jax.Array, batch: Transition, noise: jax.Array) -> tuple[jax.Array, dict]:
    next_head = actor_head(config, actor, batch.next_obs)
    if spec.continuous:
        next_action, next_log_prob = sample_continuous(spec, next_head, noise)
        next_value = min_q(config, target_critics, batch.next_obs, next_action) - alpha * next_log_prob
        q = [q_values(config, c, batch.obs, batch.action) for c in critics]
    else:
        log_p = log_softmax(next_head)
        soft_q = min_q(config, target_critics, batch.next_obs, None) - alpha * log_p
        next_value = ordered_sum(jnp.exp(log_p) * soft_q, axis=-1)
        q = [jnp.take_along_axis(q_values(config, c, batch.obs, None), batch.action[:, None], -1)[:, 0]
             for c in critics]
    target = jax.lax.stop_gradient(batch.reward + config.gamma * (1.0 - batch.terminated) * next_value)
    losses = [ordered_mean(jnp.square(qj - target)) for qj in q]
    return losses[0] + losses[1], {"critic_loss": losses[0] + losses[1], "q": ordered_mean(q[0])}


def actor_loss(config: Config, spec: EnvSpec, actor: list, critics: tuple, alpha: jax.Array,
               obs: jax.Array, noise: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(L_pi, log pi)``: for discrete actions ``log pi`` is the expectation ``sum_a pi log pi``."""
    head = actor_head(config, actor, obs)
    if spec.continuous:
        action, log_prob = sample_continuous(spec, head, noise)
        return ordered_mean(alpha * log_prob - min_q(config, critics, obs, action)), log_prob
    log_p = log_softmax(head)
    p = jnp.exp(log_p)
    loss = ordered_mean(ordered_sum(p * (alpha * log_p - min_q(config, critics, obs, None)), axis=-1))
    return loss, ordered_sum(p * log_p, axis=-1)


def gradient_step(config: Config, learner: Learner, batch: Transition, noise: jax.Array
                  ) -> tuple[Learner, dict]:
    """Critics, then actor and temperature on the same batch, then the target critics."""
    spec = env_spec(config)
    tx = optimizer(config)
    alpha = jnp.exp(learner.log_alpha)
    critic_grads, info = jax.grad(
        lambda c: critic_loss(config, spec, c, learner.target_critics, learner.actor, alpha, batch, noise[0]),
        has_aux=True)(learner.critics)
    updates, critic_opt = tx.update(critic_grads, learner.critic_opt)
    critics = optax.apply_updates(learner.critics, updates)

    (loss_pi, log_prob), actor_grads = jax.value_and_grad(
        lambda a: actor_loss(config, spec, a, critics, alpha, batch.obs, noise[1]), has_aux=True
    )(learner.actor)
    updates, actor_opt = tx.update(actor_grads, learner.actor_opt)
    actor = optax.apply_updates(learner.actor, updates)

    entropy_gap = jax.lax.stop_gradient(log_prob + target_entropy(config, spec))
    alpha_grad = jax.grad(lambda la: -ordered_mean(la * entropy_gap))(learner.log_alpha)
    updates, alpha_opt = tx.update(alpha_grad, learner.alpha_opt)
    log_alpha = learner.log_alpha + updates

    target_critics = polyak(learner.target_critics, critics, config.tau)
    learner = Learner(actor, critics, target_critics, log_alpha, actor_opt, critic_opt, alpha_opt)
    return learner, {**info, "actor_loss": loss_pi, "alpha": alpha, "entropy": -ordered_mean(log_prob)}


# --------------------------------------------------------------------------- update


def update(config: Config, state: State) -> tuple[State, dict]:
    """One environment step of every env, stored, then ``updates_per_step`` gradient steps."""
    spec = env_spec(config)
    key, act_key, random_key, env_key, learn_key = jax.random.split(state.key, 5)
    steps_before = state.iteration * config.num_envs
    obs = observe(config, state.rollout.obs)
    policy_action = act(config, state, state.rollout.obs, act_key)
    explore = steps_before < config.learning_starts
    action = jnp.where(explore, uniform_actions(spec, random_key, config.num_envs), policy_action)
    rollout, transition, episode_metrics = rollout_step(spec, state.rollout, action, env_key)
    transition = transition._replace(obs=obs, next_obs=observe(config, transition.next_obs))
    buffer = replay_add(state.buffer, transition)

    def learn(learner, step_key):
        sample_key, noise_key = jax.random.split(step_key)
        batch, _, _ = sample_uniform(buffer, sample_key, config.batch_size)
        noise_shape = (2, config.batch_size, spec.action_dim)
        noise = random.normal(random.bits(noise_key, noise_shape)) if spec.continuous else jnp.zeros(2)
        return gradient_step(config, learner, batch, noise)

    step_keys = jax.random.split(learn_key, config.updates_per_step)
    learner, learn_metrics = jax.lax.scan(learn, state.learner, step_keys)
    learning = steps_before + config.num_envs >= config.learning_starts
    learner = where_tree(learning, learner, state.learner)
    metrics = {
        "env_steps": (state.iteration + 1) * config.num_envs,
        **episode_metrics,
        **jax.tree.map(ordered_mean, learn_metrics),
    }
    state = State(learner, buffer, rollout, key, state.iteration + 1)
    return state, metrics


def train(config: Config, key: jax.Array) -> tuple[State, dict]:
    """``init`` and every iteration in one ``lax.scan``; metrics have one row per log point."""
    return scan_iterations(update, config, init(config, key), config.num_iterations)
