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

Action masks (discrete environments with ``action_mask``, ``purejaxrl.envs.masks``): the
policy is the softmax over the legal actions (``masked_logits``), so
``pi(a|s) = 0`` for illegal ``a``, and the expectations above (the soft value at ``s'``
with the mask stored with ``s'``, the actor loss, the entropy ``-sum_a pi log pi``) run
over the legal actions only; random warm-up actions are uniform over the legal ones.
``H_target`` stays ``target_entropy_scale * log |A|``: the largest entropy reachable is
``log`` of the number of legal actions, so where fewer are legal lower
``target_entropy_scale`` (or alpha keeps growing).
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
    masked_logits,
    squashed_gaussian_mode,
    squashed_gaussian_sample,
)
from purejaxrl.env_spec import EnvSpec, checked_env_spec, require_registered_env
from purejaxrl.env_spec import env_spec as make_env_spec
from purejaxrl.loop import scan_iterations
from purejaxrl.networks import (
    Head,
    apply_torso,
    build_torso,
    require_mlp,
    require_torso,
    set_config_torso,
)
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
    uniform_actions,
    where_tree,
)
from purejaxrl.ordered import ordered_mean, ordered_sum
from purejaxrl.replay import Replay, add_and_sample, replay_init

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


@pytree_dataclass
class Config:
    """SAC hyperparameters; defaults reach a final return above -250 on Pendulum-v1 in 20k steps.

    Static (recompile when changed): ``env``, ``env_kwargs``, ``total_timesteps``,
    ``num_envs``, ``buffer_size`` (transitions over all envs), ``batch_size``,
    ``learning_starts`` (environment steps of random actions before learning),
    ``updates_per_step`` (gradient steps per iteration), ``torso``, ``hidden_sizes``,
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
    torso: str = static("auto")
    """features under the MLP heads: auto (cnn on [H, W, C], else flatten), flatten, mlp, cnn, pkg.mod:Name"""
    hidden_sizes: tuple[int, ...] = static((256, 256))
    """hidden widths of the actor and critic heads"""
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
        set_config_torso(self)
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
    spec = checked_env_spec(config)  # builds: the env kwargs are accepted, the action space is usable
    require_torso(config, torso_module(config), spec.obs_shape)
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
    actor: dict
    """``{"torso", "head"}``: the actor's torso and its MLP head"""
    critics: tuple[dict, dict]
    """two ``{"torso", "head"}`` critics, each with a torso of its own"""
    target_critics: tuple[dict, dict]
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
    rollout = rollout_init(spec, config.num_envs, env_key)
    obs = rollout.obs.astype(jnp.float32)
    actor_key, *critic_keys = jax.random.split(net_key, 3)
    actor = network_init(config, actor_head_module(config), actor_key, obs, None)
    action = jnp.zeros((config.num_envs, spec.action_dim), jnp.float32) if spec.continuous else None
    critics = tuple(network_init(config, critic_head_module(config), k, obs, action) for k in critic_keys)
    log_alpha = jnp.log(jnp.asarray(config.init_alpha, jnp.float32))
    tx = optimizer(config)
    learner = Learner(actor, critics, critics, log_alpha,
                      tx.init(actor), tx.init(critics), tx.init(log_alpha))
    example = transition_example(
        jnp.zeros(spec.obs_shape, jnp.float32),
        jnp.zeros((spec.action_dim,), jnp.float32) if spec.continuous else jnp.int32(0), mask_example(spec))
    buffer = replay_init(example, config.replay_capacity, config.num_envs)
    return State(learner, buffer, rollout, key, jnp.zeros((), jnp.int32))


def torso_module(config: Config):
    """The torso under each head: by default the flattened observation (``flatten``), the heads
    being ``hidden_sizes`` MLPs; a CNN for ``[H, W, C]`` observations."""
    spec = env_spec(config)
    return build_torso(config.torso, spec.obs_shape, config.hidden_sizes, config.activation, "flatten")


def actor_head_module(config: Config) -> Head:
    """An MLP from the torso's features to the Gaussian's mean and raw ``log_std`` (continuous) or
    the logits (discrete); output gain 0.01."""
    spec = env_spec(config)
    out = 2 * spec.action_dim if spec.continuous else spec.action_dim
    return Head(out, 0.01, config.hidden_sizes, config.activation)


def critic_head_module(config: Config) -> Head:
    """An MLP from the torso's features (and the action, continuous) to ``Q(s, a)`` or ``Q(s, .)``."""
    spec = env_spec(config)
    return Head(1 if spec.continuous else spec.action_dim, 1.0, config.hidden_sizes, config.activation)


def network_init(config: Config, head: Head, key: jax.Array, obs: jax.Array,
                 action: jax.Array | None) -> dict:
    """``{"torso", "head"}`` variables of one network for a batch ``obs [N, *obs_shape]``."""
    torso_key, head_key = jax.random.split(key)
    torso = torso_module(config).init(torso_key, obs)
    return {"torso": torso, "head": head.init(head_key, head_input(config, torso, obs, action))}


def head_input(config: Config, torso: dict, obs: jax.Array, action: jax.Array | None) -> jax.Array:
    """The torso's features of observations ``[..., *obs_shape]``, the action appended if given."""
    features = apply_torso(torso_module(config), torso, obs, len(env_spec(config).obs_shape))
    return features if action is None else jnp.concatenate([features, action], axis=-1)


def parameters(state: State) -> Learner:
    """What training learns (``check_finite`` watches it): actor, critics, targets, alpha, optimisers."""
    return state.learner


# --------------------------------------------------------------------------- policy and critics


def observe(config: Config, obs: jax.Array) -> jax.Array:
    """Raw observations as float32 (what the replay buffer stores)."""
    return obs.astype(jnp.float32)


def actor_head(config: Config, actor: dict, obs: jax.Array) -> jax.Array:
    return actor_head_module(config).apply(actor["head"], head_input(config, actor["torso"], obs, None))


def gaussian_params(spec: EnvSpec, head: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean and ``log_std`` squashed smoothly into ``[LOG_STD_MIN, LOG_STD_MAX]``."""
    mean, raw = jnp.split(head, [spec.action_dim], axis=-1)
    log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (jnp.tanh(raw) + 1.0)
    return mean, log_std


def sample_continuous(spec: EnvSpec, head: jax.Array, noise: jax.Array) -> tuple[jax.Array, jax.Array]:
    mean, log_std = gaussian_params(spec, head)
    return squashed_gaussian_sample(mean, log_std, noise, spec.action_low, spec.action_high)


def q_values(config: Config, critic: dict, obs: jax.Array, action: jax.Array | None) -> jax.Array:
    """``Q(s, a)`` (continuous: ``action`` given) or ``Q(s, .)`` over all actions (discrete)."""
    out = critic_head_module(config).apply(critic["head"], head_input(config, critic["torso"], obs, action))
    return out if action is None else out[..., 0]


def min_q(config: Config, critics: tuple, obs: jax.Array, action: jax.Array | None) -> jax.Array:
    return jnp.minimum(q_values(config, critics[0], obs, action), q_values(config, critics[1], obs, action))


def discrete_log_policy(head: jax.Array, action_mask: jax.Array | None) -> tuple[jax.Array, jax.Array]:
    """``(log pi(.|s), log pi(.|s) on legal actions, 0 elsewhere)`` from the actor's logits (the same
    array twice without a mask). With ``action_mask`` the softmax runs over the legal actions, so
    ``pi = exp(log pi) = 0`` exactly on illegal ones, and with the second array every term
    ``pi_a (alpha log pi_a - Q_a)`` of an illegal action is exactly 0 (``alpha`` times the masked
    log-probability would overflow to ``-inf`` for ``alpha > 1``, and ``0 * inf`` is NaN)."""
    if action_mask is None:
        log_p = log_softmax(head)
        return log_p, log_p
    log_p = log_softmax(masked_logits(head, action_mask))
    return log_p, jnp.where(action_mask, log_p, 0.0)


def act(config: Config, state: State, obs: jax.Array, key: jax.Array, deterministic: bool = False,
        action_mask: jax.Array | None = None):
    """Actions for a single observation or a batch (leading axes are kept). Discrete actions:
    ``action_mask`` (``bool[..., num_actions]``, True = legal; the environment's
    ``envs.action_mask``) restricts the sample and the argmax to the legal actions; ``None``:
    every action is legal. Continuous actions ignore it."""
    spec = env_spec(config)
    head = actor_head(config, state.learner.actor, observe(config, obs))
    if not spec.continuous and action_mask is not None:
        head = masked_logits(head, action_mask)
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
    else:  # sum over the legal actions at s' (pi = 0 elsewhere)
        log_p, legal_log_p = discrete_log_policy(next_head, batch.next_action_mask)
        soft_q = min_q(config, target_critics, batch.next_obs, None) - alpha * legal_log_p
        next_value = ordered_sum(jnp.exp(log_p) * soft_q, axis=-1)
        q = [jnp.take_along_axis(q_values(config, c, batch.obs, None), batch.action[:, None], -1)[:, 0]
             for c in critics]
    target = jax.lax.stop_gradient(batch.reward + config.gamma * (1.0 - batch.terminated) * next_value)
    losses = [ordered_mean(jnp.square(qj - target)) for qj in q]
    return losses[0] + losses[1], {"critic_loss": losses[0] + losses[1], "q": ordered_mean(q[0])}


def actor_loss(config: Config, spec: EnvSpec, actor: list, critics: tuple, alpha: jax.Array,
               obs: jax.Array, noise: jax.Array, action_mask: jax.Array | None = None
               ) -> tuple[jax.Array, jax.Array]:
    """``(L_pi, log pi)``: for discrete actions ``log pi`` is the expectation ``sum_a pi log pi``
    (over the legal actions of ``action_mask``)."""
    head = actor_head(config, actor, obs)
    if spec.continuous:
        action, log_prob = sample_continuous(spec, head, noise)
        return ordered_mean(alpha * log_prob - min_q(config, critics, obs, action)), log_prob
    log_p, legal_log_p = discrete_log_policy(head, action_mask)
    p = jnp.exp(log_p)
    loss = ordered_mean(ordered_sum(p * (alpha * legal_log_p - min_q(config, critics, obs, None)), axis=-1))
    return loss, ordered_sum(p * legal_log_p, axis=-1)


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
        lambda a: actor_loss(config, spec, a, critics, alpha, batch.obs, noise[1], batch.action_mask),
        has_aux=True
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
    action_mask = rollout_action_mask(spec, state.rollout)  # None without a mask
    policy_action = act(config, state, state.rollout.obs, act_key, action_mask=action_mask)
    explore = steps_before < config.learning_starts
    random_action = uniform_actions(spec, random_key, config.num_envs, action_mask)
    action = jnp.where(explore, random_action, policy_action)
    rollout, transition, episode_metrics = rollout_step(spec, state.rollout, action, env_key)
    transition = transition._replace(obs=obs, next_obs=observe(config, transition.next_obs))
    step_keys = jax.vmap(jax.random.split)(jax.random.split(learn_key, config.updates_per_step))
    sample_keys, noise_keys = step_keys[:, 0], step_keys[:, 1]  # each gradient step's two keys
    buffer, batches = add_and_sample(state.buffer, transition, sample_keys, config.batch_size)

    def learn(learner, inputs):
        batch, noise_key = inputs
        noise_shape = (2, config.batch_size, spec.action_dim)
        noise = random.normal(random.bits(noise_key, noise_shape)) if spec.continuous else jnp.zeros(2)
        return gradient_step(config, learner, batch, noise)

    learner, learn_metrics = jax.lax.scan(learn, state.learner, (batches, noise_keys))
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
