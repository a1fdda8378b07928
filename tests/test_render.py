"""purejaxrl.render: a deterministic episode as a GIF (gymnax) or Brax's HTML viewer (Brax, MJX)."""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from purejaxrl.algorithms import ppo

import purejaxrl
from purejaxrl import envs, render
from purejaxrl.cli import main

SMALL = dict(total_timesteps=256, num_envs=4, num_steps=32, num_minibatches=2)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished two-seed CartPole run directory (barely trained: short episodes)."""
    out = tmp_path_factory.mktemp("render") / "cartpole"
    purejaxrl.run(ppo, ppo.Config(env="CartPole-v1", **SMALL), seeds=2, out=out, progress=False)
    return out


def gif_frames(path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.n_frames, image.info["duration"]


def viewer_system(html: str) -> dict:
    """The system JSON a ``brax.io.html`` page carries (base64 of zlib-compressed JSON)."""
    assert '<div id="brax-viewer">' in html
    encoded = re.search(r'var system = "([^"]+)"', html).group(1)
    return json.loads(zlib.decompress(base64.b64decode(encoded)))


# --------------------------------------------------------------------------- GIFs


def test_cartpole_episode_is_the_policy_s_and_the_gif_has_a_frame_per_step(run, tmp_path):
    algorithm, config, state = render.load_run(run)
    key = jax.random.key(3)
    episode = render.rollout_frames(algorithm, config, state, key, seed_index=1)
    agent = jax.tree.map(lambda x: x[1], state)

    assert episode.ended and 1 <= episode.length < 500
    assert episode.actions.shape == (episode.length,) and episode.obs.shape == (episode.length, 4)
    # the actions are the deterministic policy's in the recorded observations
    greedy = ppo.act(config, agent, episode.obs, key, deterministic=True)
    np.testing.assert_array_equal(episode.actions, greedy)
    # the observations are those of the recorded states (CartPole observes its state)
    s = episode.states
    np.testing.assert_array_equal(episode.obs, np.stack([s.x, s.x_dot, s.theta, s.theta_dot], axis=-1))
    # the same episode evaluate scores with this key and one episode
    assert episode.returns[-1] == purejaxrl.evaluate(algorithm, config, agent, key, 1)[0]

    path = render.render(run, seed_index=1, key=3)
    assert path == run / "render.gif"
    assert gif_frames(path) == (episode.length, 20)  # CartPole plays in real time: 50 steps a second
    every = render.render(run, tmp_path / "every.gif", seed_index=1, key=3, every=3, fps=5)
    assert gif_frames(every) == (math.ceil(episode.length / 3), 200)


def test_max_steps_cuts_an_episode(run):
    algorithm, config, state = render.load_run(run)
    episode = render.rollout_frames(algorithm, config, state, jax.random.PRNGKey(0), max_steps=2)
    assert episode.length == 2 and not episode.ended and episode.returns.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("env_id", render.CLASSIC_CONTROL)
def test_classic_control_frames_show_the_state(env_id):
    """Two reset states drawn: captioned pictures of the same size that differ."""
    env, params = envs.make(env_id)
    _, states = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(0), 2), params)
    episode = render.Episode(env_id=env_id, env=env, env_params=params, states=jax.device_get(states),
                             obs=None, actions=np.zeros(2), rewards=np.array([-1.0, -1.0]),
                             terminated=False, truncated=False)
    first, second = (np.asarray(image) for image in render.frames(episode))
    assert first.shape == second.shape == (render.HEIGHT + render.CAPTION, render.WIDTH, 3)
    below_caption = slice(render.CAPTION, None)
    assert (first[below_caption] != 255).any() and (first[below_caption] != second[below_caption]).any()
    assert (first[: render.CAPTION] != second[: render.CAPTION]).any()  # step and return in the caption


def test_minatar_frame_shows_every_occupied_cell(tmp_path):
    config = ppo.Config(env="Breakout-MinAtar", **SMALL)
    state = ppo.init(config, jax.random.key(0))
    episode = render.rollout_frames(ppo, config, state, jax.random.key(1), max_steps=4)
    image = render.frames(episode)[0]
    rows, cols, _ = episode.obs[0].shape
    cell = render.MINATAR_CELL
    cells = np.asarray(image)[render.CAPTION:].reshape(rows, cell, cols, cell, 3)
    occupied = cells[:, 0, :, 0].any(axis=-1)  # black cells are empty
    np.testing.assert_array_equal(occupied, episode.obs[0].any(axis=-1))
    assert occupied.sum() > 30  # the bricks, the paddle and the ball
    path = render.render((ppo, config, state), tmp_path / "breakout.gif", max_steps=4, key=1)
    assert gif_frames(path) == (episode.length, 100)


# --------------------------------------------------------------------------- HTML


def test_brax_html_viewer_holds_one_pose_per_step(tmp_path):
    config = ppo.Config(env="brax/inverted_pendulum", env_kwargs={"backend": "spring", "episode_length": 5},
                        **SMALL)
    state = ppo.init(config, jax.random.key(0))
    path = render.render((ppo, config, state), tmp_path / "pendulum.html")
    system = viewer_system(path.read_text())
    episode = render.rollout_frames(ppo, config, state, jax.random.key(0))
    env = episode.env
    assert len(system["states"]["x"]) == episode.length == 5  # truncated by the episode length
    assert system["opt"]["timestep"] == pytest.approx(float(env.brax_env.dt))
    x = episode.states.brax_state.pipeline_state.x
    np.testing.assert_allclose(system["states"]["x"][4]["pos"], x.pos[4], rtol=1e-6)
    assert set(system["geoms"]) >= {"cart", "pole"}


def test_mjx_html_viewer_follows_the_bodies_and_the_mocap_target(tmp_path):
    config = ppo.Config(env="mjx/reacher", **SMALL)
    state = ppo.init(config, jax.random.key(0))
    episode = render.rollout_frames(ppo, config, state, jax.random.key(2), max_steps=6)
    system = viewer_system(render.html(episode, every=2))
    env = episode.env
    assert len(system["states"]["x"]) == 3
    assert system["opt"]["timestep"] == pytest.approx(2 * env.frame_skip * env.mj_model.opt.timestep)
    assert set(system["geoms"]) == {"arm", "hand", "finger", "target"}
    # the arm's bodies where its joint angles put them (links of 0.12 m at a height of 0.01 m)
    qpos, target = episode.states.physics.qpos[4], episode.states.physics.mocap_pos[4, 0]
    angles = np.cumsum(qpos)
    hand = 0.12 * np.array([np.cos(angles[0]), np.sin(angles[0]), 0.0]) + [0.0, 0.0, 0.01]
    finger = hand + 0.12 * np.array([np.cos(angles[1]), np.sin(angles[1]), 0.0])
    pose = system["states"]["x"][2]
    index = {name: geoms[0]["link_idx"] for name, geoms in system["geoms"].items()}
    np.testing.assert_allclose(pose["pos"][index["hand"]], hand, atol=1e-6)
    np.testing.assert_allclose(pose["pos"][index["finger"]], finger, atol=1e-6)
    np.testing.assert_allclose(pose["pos"][index["target"]], target, atol=1e-6)  # the mocap target moves
    half = angles[1] / 2  # the hand turned by both angles about z: quaternion (cos, 0, 0, sin) of half
    np.testing.assert_allclose(np.abs(np.dot(pose["rot"][index["hand"]], [np.cos(half), 0, 0, np.sin(half)])),
                               1.0, atol=1e-6)


def test_mujoco_viewer_json_matches_brax_s_for_a_model_brax_loads():
    from brax.base import Transform
    from brax.io import json as brax_json
    from brax.io import mjcf
    from purejaxrl.envs import mjx_envs

    env, _ = mjx_envs.make("mjx/cartpole_swingup")
    rng = np.random.default_rng(0)
    pos, rot = rng.normal(size=(2, 2, 3)), rng.normal(size=(2, 2, 4))
    ours = json.loads(render.mujoco_viewer_json(env.mj_model, pos, rot, dt=0.02))
    poses = [render._Pose(Transform(pos=pos[t], rot=rot[t])) for t in range(2)]
    theirs = json.loads(brax_json.dumps(mjcf.load(env.xml_path), poses))
    assert ours["geoms"].keys() == theirs["geoms"].keys()
    for name, geoms in ours["geoms"].items():
        for mine, brax in zip(geoms, theirs["geoms"][name], strict=True):
            assert mine["name"] == brax["name"] and mine["link_idx"] == brax["link_idx"]
            for field in ("pos", "rot", "rgba", "size"):
                np.testing.assert_allclose(mine[field], brax[field], rtol=1e-6, atol=1e-7)
    for mine, brax in zip(ours["states"]["x"], theirs["states"]["x"], strict=True):
        np.testing.assert_allclose(mine["pos"], brax["pos"])
        np.testing.assert_allclose(mine["rot"], brax["rot"])


# --------------------------------------------------------------------------- CLI and errors


def test_cli_round_trip(run, tmp_path, capsys):
    output = tmp_path / "seed1.gif"
    argv = ["render", str(run), "-o", str(output), "--seed-index", "1", "--key", "2"]
    assert main(argv) == 0
    assert f"wrote {output}" in capsys.readouterr().out
    algorithm, config, state = render.load_run(run)
    episode = render.rollout_frames(algorithm, config, state, jax.random.key(2), seed_index=1)
    assert gif_frames(output)[0] == episode.length


def test_bad_input_is_refused_before_compiling(run, tmp_path, capsys):
    no_checkpoint = tmp_path / "fresh"
    no_checkpoint.mkdir()
    shutil.copy(run / "config.json", no_checkpoint / "config.json")
    with pytest.raises(FileNotFoundError, match="has no checkpoint"):
        render.render(no_checkpoint)
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        render.render(tmp_path / "missing")
    with pytest.raises(IndexError, match="seed_index 2 is out of range: the state holds 2 agent"):
        render.render(run, seed_index=2)
    with pytest.raises(ValueError, match="must end in .gif"):
        render.render(run, tmp_path / "cartpole.html")
    catch = ppo.Config(env="Catch-bsuite")
    with pytest.raises(render.UnsupportedEnvironmentError, match="cannot draw 'Catch-bsuite'.*MinAtar"):
        render.render((ppo, catch, None), tmp_path / "catch.gif")
    config = ppo.Config(env="CartPole-v1")
    agent = ppo.init(config, jax.random.key(0))
    with pytest.raises(ValueError, match="pass a path"):
        render.render((ppo, config, agent))
    with pytest.raises(IndexError, match="state holds 1 agent"):
        render.rollout_frames(ppo, config, agent, jax.random.key(0), seed_index=1)
    with pytest.raises(ValueError, match="max_steps must be a positive integer"):
        render.rollout_frames(ppo, config, agent, jax.random.key(0), max_steps=0)

    for argv, message in [(["render", str(no_checkpoint)], "has no checkpoint"),
                          (["render", str(run), "--seed-index", "5"], "seed_index 5 is out of range"),
                          (["render", str(run), "--every", "0"], "every must be a positive integer")]:
        assert main(argv) == 2
        assert message in capsys.readouterr().err


def test_agent_index_counts_sweep_points_times_seeds():
    assert render.agent_index((), 0) == ()
    assert render.agent_index((3, 4), 6) == (1, 2)
    assert render.agent_index((3, 4), (2, 3)) == (2, 3)
    for bad in (12, -1, (3, 0), (0,), (1, True)):
        with pytest.raises(IndexError):
            render.agent_index((3, 4), bad)
    with pytest.raises(TypeError, match="an int or a tuple of ints"):
        render.agent_index((3, 4), True)


def test_unsupported_families_name_what_is_supported():
    env, _ = envs.make("Catch-bsuite")
    with pytest.raises(render.UnsupportedEnvironmentError, match="brax/<name>"):
        render.family(env)
    assert render.output_suffix(envs.make("Pendulum-v1")[0]) == ".gif"
    assert render.family(envs.make("SpaceInvaders-MinAtar")[0]) == "minatar"
    assert jnp.shape(render.select_agent(ppo, ppo.Config(), ppo.init(ppo.Config(), jax.random.key(0)))
                     .obs) == (16, 4)
