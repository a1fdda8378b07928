"""Watch a trained policy: one deterministic episode as a GIF or as Brax's HTML viewer.

    render("runs/cartpole", seed_index=3)            # -> runs/cartpole/render.gif (newest checkpoint)
    render((ppo, config, state), "walk.html")        # an agent state (or a batch of them) in memory
    episode = rollout_frames(ppo, config, state, key)  # the episode itself: env states, obs, actions
    frames(episode, every=2)                          # GIF families: PIL images, every 2nd step
    html(episode)                                     # Brax/MJX: the viewer page as a string

The episode is the one ``evaluate(algorithm, config, agent, key, num_episodes=1)``
scores (same keys, same ``algorithm.act(..., deterministic=True)`` actions): one
environment, one agent (``seed_index`` into the state's batch axes), one jitted
``lax.scan`` of ``max_steps`` steps (default: the environment's time limit) whose
steps after the episode ended are skipped with ``lax.cond``. It records the
environment state the agent acted in, its observation, action, reward and
end flags; pictures are drawn on the host afterwards. Frame ``t`` shows the state
before action ``t``, so an episode of ``T`` steps gives ``T`` frames (the state an
episode ends in is replaced by the auto-reset and is not shown).

What each family becomes:

- gymnax classic control (``CartPole-v1``, ``Acrobot-v1``, ``Pendulum-v1``,
  ``MountainCar-v0``, ``MountainCarContinuous-v0``): a GIF drawn with Pillow from
  the environment state, after Gymnasium's pictures; 300 x 216 pixels, one 64-colour
  palette (a 500-step CartPole episode: 500 frames, about 240 KB, drawn and written
  in under 2 s on this project's 2-core CPU). ``gymnax.visualize`` was not used: in
  gymnax 1.0.1 it draws every classic-control frame by building a Gymnasium
  environment that renders with pygame (not a dependency; it raises without it), and
  it animates with matplotlib (9 s for 100 MinAtar frames here, against 0.2 s).
- MinAtar (``*-MinAtar``): a GIF of the observation grid, one colour per channel
  (as ``gymnax.visualize`` colours it: the highest set channel wins, black = empty).
- Brax (``brax/<name>``): ``brax.io.html.render`` of the environment's ``System``
  and the pipeline state's link transforms, one per agent step, played at the
  agent's time step (``dt x action_repeat``).
- MJX (the project's ``MjxEnv`` environments, ``mjx/<name>``): the same Brax
  viewer. Body positions and orientations come from MuJoCo's C
  ``mj_kinematics`` at each recorded ``qpos`` (and mocap position), the geoms
  from the environment's ``MjModel``, written in the viewer's JSON format
  (``brax.io.mjcf.load`` is not used: it fuses bodies without joints, which
  pins the reacher's mocap target to its XML position, and it refuses models
  Brax's physics cannot run). MuJoCo's own offscreen renderer needs an OpenGL
  context: on this project's headless machine the default (GLFW) and OSMesa fail
  and EGL works only when ``MUJOCO_GL=egl`` is set before MuJoCo is first
  imported, so it is not relied on.

The HTML files are self-contained except for the viewer's JavaScript (three.js and
Brax's viewer), which the browser loads from public CDNs: open them with a network
connection. Other gymnax environments (bsuite, misc) are refused with the list
of supported families.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import pathlib
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl.evaluation import (
    check_key,
    config_env,
    deterministic_episodes,
    state_batch_shape,
    time_limit,
)
from purejaxrl.runner import read_run

CLASSIC_CONTROL: tuple[str, ...] = (
    "CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCar-v0", "MountainCarContinuous-v0")

#: Frames per second of a GIF by default: Gymnasium's ``render_fps`` (CartPole plays in real
#: time, 50 steps of 0.02 s a second), gymnax's 100 ms a frame for MinAtar.
DEFAULT_FPS: dict[str, int] = {"CartPole-v1": 50, "Acrobot-v1": 15, "Pendulum-v1": 30, "MountainCar-v0": 30,
                               "MountainCarContinuous-v0": 30, "MinAtar": 10}

SUPPORTED = ("gymnax classic control (" + ", ".join(CLASSIC_CONTROL) + ") and MinAtar as .gif; "
             "brax/<name> and the project's MJX environments (mjx/<name>) as .html")


class UnsupportedEnvironmentError(ValueError):
    """The environment belongs to no family ``render`` can draw."""


@dataclasses.dataclass(frozen=True)
class Episode:
    """One recorded episode (NumPy leaves, leading axis = step ``t`` of the episode).

    ``states[t]``/``obs[t]``: the environment state and observation action ``t`` was
    chosen in; ``actions[t]``, ``rewards[t]``: what followed. ``terminated``/``truncated``:
    how the episode ended (both false when it was still running after ``max_steps``).
    """

    env_id: str
    env: Any
    env_params: Any
    states: Any
    obs: Any
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool
    truncated: bool

    @property
    def length(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def ended(self) -> bool:
        return self.terminated or self.truncated

    @property
    def returns(self) -> np.ndarray:
        """Cumulative reward after each step, ``float64[length]``."""
        return np.cumsum(self.rewards, dtype=np.float64)


# --------------------------------------------------------------------------- families


def drawn_env(env: Any) -> Any:
    """``env`` without its observation wrappers, which keep the state that is drawn
    (``CartPole-NoVel-v1`` draws as ``CartPole-v1``)."""
    from purejaxrl.envs.wrappers import ObservationWrapper

    while isinstance(env, ObservationWrapper):
        env = env.env
    return env


def family(env: Any) -> str:
    """``"classic"``, ``"minatar"``, ``"brax"`` or ``"mjx"``; ``UnsupportedEnvironmentError`` otherwise."""
    from purejaxrl.envs.gymnax_adapter import GymnaxEnv

    env = drawn_env(env)
    if isinstance(env, GymnaxEnv) and env.env_id in CLASSIC_CONTROL:
        return "classic"
    if isinstance(env, GymnaxEnv) and env.env_id.endswith("-MinAtar"):
        return "minatar"
    # Brax and MuJoCo are imported only if an environment of theirs was made
    brax_adapter, mjx_env = (sys.modules.get(f"purejaxrl.envs.{name}") for name in ("brax_adapter",
                                                                                     "mjx_env"))
    if brax_adapter is not None and isinstance(env, brax_adapter.BraxEnv):
        return "brax"
    if mjx_env is not None and isinstance(env, mjx_env.MjxEnv):
        return "mjx"
    name = getattr(env, "name", type(env).__name__)
    raise UnsupportedEnvironmentError(f"render: cannot draw {name!r}; supported: {SUPPORTED}")


def output_suffix(env: Any) -> str:
    """``".gif"`` or ``".html"``: what ``render`` writes for ``env``'s family."""
    return ".gif" if family(env) in ("classic", "minatar") else ".html"


# --------------------------------------------------------------------------- agent and rollout


def agent_index(batch: tuple[int, ...], seed_index: int | Sequence[int]) -> tuple[int, ...]:
    """The index into a state batch of shape ``batch``: an ``int`` counts agents in row-major
    order over all batch axes (sweep point ``p``, seed ``s`` is ``p * seeds + s``), a tuple
    gives one index per axis. Negative or too large indices raise ``IndexError``."""
    count = math.prod(batch)
    if isinstance(seed_index, (int, np.integer)) and not isinstance(seed_index, bool):
        if not 0 <= seed_index < count:
            raise IndexError(f"render: seed_index {seed_index} is out of range: the state holds {count} "
                             f"agent(s) (batch shape {batch}); choose 0 to {count - 1}")
        return tuple(int(i) for i in np.unravel_index(int(seed_index), batch)) if batch else ()
    if not isinstance(seed_index, (tuple, list)):
        raise TypeError(f"render: seed_index must be an int or a tuple of ints, got {seed_index!r}")
    index = tuple(seed_index)
    if len(index) != len(batch) or not all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) and 0 <= i < n
            for i, n in zip(index, batch)):
        raise IndexError(f"render: seed_index {seed_index!r} does not index a state batch of shape {batch}")
    return tuple(int(i) for i in index)


def select_agent(algorithm: ModuleType, config: Any, state: Any, seed_index: int | Sequence[int] = 0) -> Any:
    """One agent's state out of ``state`` (one agent, or leading seed/sweep axes)."""
    batch = state_batch_shape(algorithm, config, state)
    index = agent_index(batch, seed_index)
    return jax.tree.map(lambda x: x[index], state) if index else state


def resolve_steps(config: Any, env: Any, env_params: Any, max_steps: int | None) -> int:
    if max_steps is None:
        max_steps = time_limit(env, env_params)
        if max_steps is None:
            raise ValueError(f"render: {config.env!r} has no time limit render can find; pass max_steps")
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ValueError(f"render: max_steps must be a positive integer, got {max_steps!r}")
    return int(max_steps)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _rollout(algorithm: ModuleType, max_steps: int, config: Any, agent: Any, key: jax.Array):
    """``evaluate``'s loop (``deterministic_episodes``) for one agent and one episode, recording its
    first ``max_steps`` steps: ``(obs, env_state, action, reward, terminated, truncated)`` per step
    with the environment axis kept; zeros after the episode ended."""
    agents = jax.tree.map(lambda x: x[None], agent)
    _, _, recorded = deterministic_episodes(algorithm, config, agents, key, 1, jnp.int32(max_steps),
                                            record_steps=max_steps)
    return tuple(jax.tree.map(lambda x: x[:, 0], recorded))


def rollout_frames(algorithm: ModuleType, config: Any, state: Any, key: Any, max_steps: int | None = None,
                   seed_index: int | Sequence[int] = 0) -> Episode:
    """One deterministic episode of agent ``seed_index`` of ``state``, recorded step by step.

    Args:
        algorithm: an algorithm module (``init``, ``act``), e.g. ``purejaxrl.algorithms.ppo``.
        config: the config the agents were trained with (unbatched).
        state: one agent state or a batch (seeds, sweep points x seeds).
        key: ``jax.random.key`` or ``PRNGKey``; the episode is the one ``evaluate`` runs with
            this key and ``num_episodes=1``.
        max_steps: length of the scan (default: the environment's time limit); an episode
            still running then is cut there (``Episode.ended`` is false).
        seed_index: which agent of the batch (see ``agent_index``).
    """
    key = check_key(key)
    env, env_params = config_env(config)
    family(env)  # an environment render cannot draw is refused before compiling
    max_steps = resolve_steps(config, env, env_params, max_steps)
    agent = select_agent(algorithm, config, state, seed_index)
    obs, states, actions, rewards, terminated, truncated = jax.device_get(
        _rollout(algorithm, max_steps, config, agent, key))
    ends = np.flatnonzero(np.asarray(terminated | truncated)[:, 0])
    length = int(ends[0]) + 1 if ends.size else max_steps
    first = functools.partial(jax.tree.map, lambda x: np.asarray(x)[:length, 0])
    return Episode(env_id=config.env, env=env, env_params=env_params, states=first(states), obs=first(obs),
                   actions=first(actions), rewards=first(rewards),
                   terminated=bool(ends.size and terminated[length - 1, 0]),
                   truncated=bool(ends.size and truncated[length - 1, 0]))


# --------------------------------------------------------------------------- GIF frames

WIDTH, HEIGHT, CAPTION = 300, 200, 16
SUPERSAMPLE = 2  # shapes are drawn at twice the size and shrunk: smooth edges
WHITE, BLACK = (255, 255, 255), (0, 0, 0)


class Canvas:
    """World coordinates (metres, y up) on a ``WIDTH x HEIGHT`` picture, drawn supersampled."""

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float]):
        from PIL import Image, ImageDraw

        self.image = Image.new("RGB", (WIDTH * SUPERSAMPLE, HEIGHT * SUPERSAMPLE), WHITE)
        self.draw = ImageDraw.Draw(self.image)
        self.scale = SUPERSAMPLE * min(WIDTH / (x_range[1] - x_range[0]), HEIGHT / (y_range[1] - y_range[0]))
        self.x0 = SUPERSAMPLE * WIDTH / 2 - self.scale * (x_range[0] + x_range[1]) / 2
        self.y0 = SUPERSAMPLE * HEIGHT / 2 + self.scale * (y_range[0] + y_range[1]) / 2

    def px(self, x: float, y: float) -> tuple[float, float]:
        return self.x0 + self.scale * x, self.y0 - self.scale * y

    def line(self, points: Sequence[tuple[float, float]], color, width: float) -> None:
        self.draw.line([self.px(*p) for p in points], fill=color, width=max(1, round(width * SUPERSAMPLE)),
                       joint="curve")

    def disc(self, x: float, y: float, radius_px: float, color) -> None:
        cx, cy = self.px(x, y)
        r = radius_px * SUPERSAMPLE
        self.draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)

    def polygon(self, points: Sequence[tuple[float, float]], color) -> None:
        self.draw.polygon([self.px(*p) for p in points], fill=color)

    def result(self):
        return self.image.reduce(SUPERSAMPLE)


def rotate(points: Sequence[tuple[float, float]], angle: float, origin: tuple[float, float]):
    c, s = math.cos(angle), math.sin(angle)
    return [(origin[0] + c * x - s * y, origin[1] + s * x + c * y) for x, y in points]


def draw_cartpole(s: dict, p: Any):
    """The cart on its track (``|x| <= x_threshold``), the pole of length ``2 * length``."""
    limit = float(p.x_threshold)
    canvas = Canvas((-limit * 1.1, limit * 1.1), (-0.6, 1.6))
    canvas.line([(-limit, 0.0), (limit, 0.0)], BLACK, 1)
    x, theta, w, h = float(s["x"]), float(s["theta"]), 0.4, 0.24
    canvas.polygon([(x - w / 2, -h / 2), (x + w / 2, -h / 2), (x + w / 2, h / 2), (x - w / 2, h / 2)], BLACK)
    tip = (x + 2 * float(p.length) * math.sin(theta), h / 4 + 2 * float(p.length) * math.cos(theta))
    canvas.line([(x, h / 4), tip], (202, 152, 101), 7)
    canvas.disc(x, h / 4, 3.5, (129, 132, 203))
    return canvas.result()


def draw_acrobot(s: dict, p: Any):
    """Two links hanging from the pivot (angles 0 point down); the goal height is the line."""
    l1, l2 = float(p.link_length_1), float(p.link_length_2)
    reach = (l1 + l2) * 1.1
    canvas = Canvas((-reach, reach), (-reach, reach))
    canvas.line([(-reach, l1), (reach, l1)], BLACK, 1)
    a1, a2 = float(s["joint_angle1"]), float(s["joint_angle1"]) + float(s["joint_angle2"])
    elbow = (l1 * math.sin(a1), -l1 * math.cos(a1))
    hand = (elbow[0] + l2 * math.sin(a2), elbow[1] - l2 * math.cos(a2))
    canvas.line([(0.0, 0.0), elbow, hand], (0, 204, 204), 8)
    for point in ((0.0, 0.0), elbow):
        canvas.disc(*point, 4, (204, 204, 0))
    return canvas.result()


def draw_pendulum(s: dict, p: Any):
    """The rod (``theta = 0`` up, counter-clockwise) and an arc whose length shows the torque."""
    length = float(p.l)
    canvas = Canvas((-1.3 * length, 1.3 * length), (-1.3 * length, 1.3 * length))
    theta, torque = float(s["theta"]), float(s["last_u"]) / max(float(p.max_torque), 1e-6)
    canvas.line([(0.0, 0.0), (-length * math.sin(theta), length * math.cos(theta))], (204, 77, 77), 12)
    canvas.disc(0.0, 0.0, 3, BLACK)
    if abs(torque) > 1e-3:  # torque arc around the pivot, counter-clockwise for positive torque
        cx, cy = canvas.px(0.0, 0.0)
        r = 0.35 * length * canvas.scale
        start, extent = -90.0, -180.0 * torque  # PIL's angles run clockwise from +x
        box = [cx - r, cy - r, cx + r, cy + r]
        canvas.draw.arc(box, min(start, start + extent), max(start, start + extent), fill=BLACK,
                        width=2 * SUPERSAMPLE)
    return canvas.result()


def draw_mountain_car(s: dict, p: Any):
    """The hill ``y = 0.45 sin(3x) + 0.55``, the flag at the goal and the car on the hill."""
    low, high = float(p.min_position), float(p.max_position)
    canvas = Canvas((low, high), (-0.05, 1.15))

    def height(x):
        return 0.45 * math.sin(3 * x) + 0.55

    xs = np.linspace(low, high, 100)
    canvas.line([(x, height(x)) for x in xs], BLACK, 2)
    goal = float(p.goal_position)
    canvas.line([(goal, height(goal)), (goal, height(goal) + 0.15)], BLACK, 1.5)
    top = height(goal) + 0.15
    canvas.polygon([(goal, top), (goal, top - 0.04), (goal + 0.08, top - 0.02)], (204, 204, 0))
    x = float(s["position"])
    angle = math.atan(1.35 * math.cos(3 * x))
    body = rotate([(-0.08, 0.015), (0.08, 0.015), (0.08, 0.065), (-0.08, 0.065)], angle, (x, height(x)))
    canvas.polygon(body, BLACK)
    for wheel in rotate([(-0.05, 0.015), (0.05, 0.015)], angle, (x, height(x))):
        canvas.disc(*wheel, 4, (128, 128, 128))
    return canvas.result()


CLASSIC_DRAWERS: dict[str, Callable] = {
    "CartPole-v1": draw_cartpole, "Acrobot-v1": draw_acrobot, "Pendulum-v1": draw_pendulum,
    "MountainCar-v0": draw_mountain_car, "MountainCarContinuous-v0": draw_mountain_car,
}

MINATAR_CELL = 20


def draw_minatar(obs: np.ndarray):
    """A ``rows x cols x channels`` observation as coloured cells (the highest set channel wins)."""
    from matplotlib import colormaps
    from PIL import Image

    channels = obs.shape[-1]
    channel_colors = colormaps["cubehelix"](np.linspace(0.25, 0.9, channels))[:, :3] * 255
    colors = np.concatenate([[[0, 0, 0]], channel_colors])
    index = np.max((np.asarray(obs) > 0) * np.arange(1, channels + 1), axis=-1)
    pixels = np.kron(colors.astype(np.uint8)[index], np.ones((MINATAR_CELL, MINATAR_CELL, 1), np.uint8))
    return Image.fromarray(pixels, "RGB")


def with_caption(image, text: str):
    """``image`` under a strip with ``text`` in it."""
    from PIL import Image, ImageDraw

    framed = Image.new("RGB", (image.width, image.height + CAPTION), WHITE)
    framed.paste(image, (0, CAPTION))
    ImageDraw.Draw(framed).text((3, 2), text, fill=BLACK)
    return framed


def frames(episode: Episode, every: int = 1) -> list:
    """PIL images of steps ``0, every, 2 * every, ...`` of a classic-control or MinAtar episode,
    each captioned with the step and the return so far."""
    every = check_every(every)
    kind = family(episode.env)
    if kind not in ("classic", "minatar"):
        raise ValueError(f"render: {episode.env_id} renders as HTML (render.html), not as frames")
    returns = episode.returns
    images = []
    for t in range(0, episode.length, every):
        if kind == "classic":
            state = {k: np.asarray(v[t]) for k, v in vars(episode.states).items()}
            image = CLASSIC_DRAWERS[drawn_env(episode.env).env_id](state, episode.env_params)
        else:
            image = draw_minatar(episode.obs[t])
        name = episode.env_id.removesuffix("-MinAtar")
        caption = f"{name}  step {t + 1}/{episode.length}  return {returns[t]:.1f}"
        images.append(with_caption(image, caption))
    return images


def write_gif(images: Sequence, path: str | pathlib.Path, fps: float) -> pathlib.Path:
    """An endlessly looping GIF of ``images`` at ``fps`` (GIF stores 10 ms units, so rates
    above 50 fps play at 50), all frames in one palette of at most 64 colours."""
    from PIL import Image

    if not images:
        raise ValueError("render: no frames to write")
    path = pathlib.Path(path)
    sample = images[:: max(1, len(images) // 8)]
    strip = Image.new("RGB", (sum(im.width for im in sample), max(im.height for im in sample)), WHITE)
    for i, im in enumerate(sample):
        strip.paste(im, (sum(s.width for s in sample[:i]), 0))
    palette = strip.quantize(colors=64, dither=Image.Dither.NONE)
    indexed = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    duration = max(20, round(1000 / fps / 10) * 10)
    path.parent.mkdir(parents=True, exist_ok=True)
    indexed[0].save(path, save_all=True, append_images=indexed[1:], duration=duration, loop=0)
    return path


# --------------------------------------------------------------------------- HTML (Brax viewer)

#: MuJoCo geom types the Brax viewer draws (brax.io.json's names); others are left out.
VIEWER_GEOMS = {0: "Plane", 2: "Sphere", 3: "Capsule", 5: "Cylinder", 6: "Box"}


def mujoco_viewer_json(mj_model: Any, pos: np.ndarray, rot: np.ndarray, dt: float) -> str:
    """A trajectory in the Brax viewer's JSON: the model's geoms grouped by body and, per frame,
    every non-world body's position ``pos[t]`` (``[nbody - 1, 3]``) and quaternion ``rot[t]``
    (``w, x, y, z``); frames ``dt`` seconds apart. Geom colours as Brax's ``json.dumps`` sets them."""
    import mujoco

    names = [mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_BODY, b) or f"link {b - 1}"
             for b in range(1, mj_model.nbody)] + ["world"]
    geoms: dict[str, list] = {}
    for g in range(mj_model.ngeom):
        kind = VIEWER_GEOMS.get(int(mj_model.geom_type[g]))
        if kind is None:
            continue
        rgba = np.asarray(mj_model.geom_rgba[g], np.float64)
        if np.allclose(rgba, [0.5, 0.5, 0.5, 1.0]):  # MuJoCo's default grey -> Brax's default brown
            rgba = np.array([0.4, 0.33, 0.26, 1.0])
        link = int(mj_model.geom_bodyid[g]) - 1
        geoms.setdefault(names[link], []).append({
            "name": kind, "link_idx": link, "pos": mj_model.geom_pos[g].tolist(),
            "rot": mj_model.geom_quat[g].tolist(), "rgba": rgba.tolist(),
            "size": mj_model.geom_size[g].tolist(),
        })
    states = [{"pos": p.tolist(), "rot": r.tolist()} for p, r in zip(pos, rot)]
    return json.dumps({"opt": {"timestep": float(dt)}, "geoms": geoms, "states": {"x": states}})


def mjx_poses(env: Any, physics: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(xpos, xquat)`` of every non-world body at each recorded physics state (MuJoCo's C kinematics)."""
    import mujoco

    model = env.mj_model
    data = mujoco.MjData(model)
    pos, rot = [], []
    for t in range(np.shape(physics.qpos)[0]):
        data.qpos[:] = physics.qpos[t]
        if model.nmocap:
            data.mocap_pos[:] = physics.mocap_pos[t]
        mujoco.mj_kinematics(model, data)
        pos.append(data.xpos[1:].copy())
        rot.append(data.xquat[1:].copy())
    return np.stack(pos), np.stack(rot)


class _Pose:
    """What ``brax.io.json.dumps`` reads of a state: its link transforms ``x``."""

    def __init__(self, x: Any):
        self.x = x


def html(episode: Episode, every: int = 1, height: int | str = 480) -> str:
    """The Brax viewer (``brax.io.html``) for a Brax or MJX episode, steps ``0, every, ...``."""
    from brax.io import html as brax_html

    every = check_every(every)
    kind = family(episode.env)
    steps = np.arange(0, episode.length, every)
    if kind == "brax":
        env = episode.env
        sys = env.brax_env.sys
        dt = float(env.brax_env.dt) * env.action_repeat * every
        x = getattr(episode.states.brax_state.pipeline_state, "x", None)
        if x is None:
            raise UnsupportedEnvironmentError(f"render: {episode.env_id}'s pipeline state has no link "
                                              "transforms (x) to draw")
        poses = [_Pose(type(x)(pos=x.pos[t], rot=x.rot[t])) for t in steps]
        return brax_html.render(sys.tree_replace({"opt.timestep": dt}), poses, height=height, colab=False)
    if kind == "mjx":
        env = episode.env
        physics = jax.tree.map(lambda a: np.asarray(a)[steps], episode.states.physics)
        pos, rot = mjx_poses(env, physics)
        dt = float(env.mj_model.opt.timestep) * env.frame_skip * every
        return brax_html.render_from_json(mujoco_viewer_json(env.mj_model, pos, rot, dt), height=height,
                                          colab=False, base_url=None)
    raise ValueError(f"render: {episode.env_id} renders as a GIF (render.frames), not as HTML")


# --------------------------------------------------------------------------- render


def check_every(every: Any) -> int:
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"render: every must be a positive integer, got {every!r}")
    return int(every)


def load_state(algorithm: ModuleType, run_dir: str | pathlib.Path, record: dict,
               seed_index: int | Sequence[int] | None = None) -> Any:
    """The agent states of the run's newest checkpoint (``runner.load``), after checking that
    there is one and that an ``int`` ``seed_index`` is within the run's sweep points x seeds."""
    from purejaxrl import rundir, runner

    if not rundir.has_checkpoint(run_dir):
        raise FileNotFoundError(f"render: {run_dir} has no checkpoint (checkpoints/ is empty or missing); "
                                "train the run, or resume it, until it writes one")
    if isinstance(seed_index, (int, np.integer)):
        points = math.prod(len(v) for v in (record.get("sweep") or {}).values())
        agent_index((points * record["seeds"],), seed_index)
    return runner.load(algorithm, run_dir)[1]


def load_run(run_dir: str | pathlib.Path, seed_index: int | Sequence[int] | None = None
             ) -> tuple[ModuleType, Any, Any]:
    """``(algorithm, config, state)`` of a run directory's newest checkpoint, checked before
    anything is compiled (``runner.read_run``, ``load_state``)."""
    algorithm, config, record = read_run(run_dir)
    family(config_env(config)[0])
    return algorithm, config, load_state(algorithm, run_dir, record, seed_index)


def output_path(config: Any, path: str | pathlib.Path | None, run_dir: pathlib.Path | None,
                fps: float | None) -> pathlib.Path:
    """The file ``render`` writes: ``path``, checked against the family's suffix, or the run's default."""
    suffix = output_suffix(config_env(config)[0])
    if path is None:
        if run_dir is None:
            raise ValueError("render: pass a path to write to (an in-memory agent has no run directory)")
        path = run_dir / f"render{suffix}"
    path = pathlib.Path(path)
    if path.suffix.lower() != suffix:
        raise ValueError(f"render: {config.env} renders as {suffix}, so the path must end in {suffix}, "
                         f"got {str(path)!r}")
    if fps is not None and (suffix != ".gif" or not fps > 0):
        raise ValueError(f"render: fps sets a GIF's speed and must be > 0; got {fps!r} for a {suffix} file")
    return path


def render(
    source: str | os.PathLike | tuple[ModuleType, Any, Any],
    path: str | os.PathLike | None = None,
    *,
    seed_index: int | Sequence[int] = 0,
    max_steps: int | None = None,
    key: Any = 0,
    fps: float | None = None,
    every: int = 1,
) -> pathlib.Path:
    """Roll out agent ``seed_index`` deterministically and write a GIF or an HTML viewer.

    Args:
        source: a run directory (its newest checkpoint) or ``(algorithm, config, state)``.
        path: where to write; default ``RUN_DIR/render.gif`` or ``RUN_DIR/render.html`` (required
            for an in-memory source). Its suffix must be the family's (``output_suffix``).
        seed_index: which agent (``agent_index``): for a run, ``point * seeds + seed``.
        max_steps: steps to record at most (default: the environment's time limit).
        key: an ``int`` seed or a JAX key for the episode (``rollout_frames``).
        fps: GIF frames per second (default ``DEFAULT_FPS`` divided by ``every``, so the GIF
            keeps its speed); an HTML viewer plays in simulated time.
        every: draw every ``every``-th step only (smaller files).

    Returns:
        The path written. Bad input (no run directory or checkpoint, ``seed_index`` out of
        range, an environment no family covers, a wrong suffix) raises before anything is compiled.
    """
    every = check_every(every)
    if isinstance(source, (str, os.PathLike)):
        run_dir = pathlib.Path(source)
        algorithm, config, record = read_run(run_dir)
        path = output_path(config, path, run_dir, fps)
        state = load_state(algorithm, run_dir, record, seed_index)
    else:
        algorithm, config, state = source
        path = output_path(config, path, None, fps)
    key = jax.random.key(key) if isinstance(key, (int, np.integer)) and not isinstance(key, bool) else key
    episode = rollout_frames(algorithm, config, state, key, max_steps, seed_index)
    if path.suffix.lower() == ".html":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html(episode, every))
        return path
    if fps is None:
        drawn = "MinAtar" if family(episode.env) == "minatar" else drawn_env(episode.env).env_id
        fps = DEFAULT_FPS[drawn] / every
    return write_gif(frames(episode, every), path, fps)


__all__ = ["CLASSIC_CONTROL", "Episode", "UnsupportedEnvironmentError", "agent_index", "family", "frames",
           "html", "load_run", "output_suffix", "render", "rollout_frames", "select_agent", "write_gif"]
