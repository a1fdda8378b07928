"""The Weights & Biases sink: offline without an API key, the logged rows and summary in W&B's own
run file, the same W&B run continued on resume, clear errors."""

import json

import numpy as np
import pytest
from purejaxrl.algorithms import ppo

import purejaxrl
from purejaxrl.wandb_sink import WandB, has_api_key, resolve_mode

CONFIG = ppo.Config(env="CartPole-v1", total_timesteps=8192, num_log_points=8)


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NETRC", str(tmp_path / "home" / ".netrc"))
    monkeypatch.setenv("WANDB_SILENT", "true")


def test_mode_is_offline_without_a_key_and_online_with_one(no_credentials, tmp_path, monkeypatch):
    assert not has_api_key() and resolve_mode(None) == "offline"
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password abc\n")
    (tmp_path / "home" / ".netrc").chmod(0o600)
    assert has_api_key() and resolve_mode(None) == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode(None) == "disabled"
    assert resolve_mode("offline") == "offline"


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="project"):
        WandB(project="")
    with pytest.raises(ValueError, match="mode"):
        WandB(project="p", mode="sometimes")
    with pytest.raises(TypeError, match="WandB"):
        purejaxrl.run(ppo, CONFIG, seeds=2, progress=False, wandb="my-project")


def run_file(out, run_id):
    files = sorted(out.glob(f"wandb/offline-run-*-{run_id}/run-{run_id}.wandb"))
    return files


def test_an_offline_run_holds_every_row_and_the_summary_and_resume_continues_it(no_credentials, tmp_path):
    out = tmp_path / "run"
    result = purejaxrl.run(ppo, CONFIG, seeds=2, out=out, progress=False, wandb=WandB(project="tests"))
    run_id = (out / "wandb_run_id").read_text().strip()
    [written] = run_file(out, run_id)
    contents = written.read_bytes()
    rows = result.metrics["episode_return"].shape[-1]
    assert contents.count(b"episode_return") >= rows  # one history record per log row
    iqm = json.dumps(result.summary["iqm"]).encode()
    assert b"iqm" in contents and iqm in contents  # the summary's IQM, as W&B stores it (JSON text)
    assert np.isfinite(result.summary["iqm"])

    purejaxrl.run(ppo, CONFIG, seeds=2, out=out, resume=True, progress=False, wandb=WandB(project="tests"))
    assert (out / "wandb_run_id").read_text().strip() == run_id
    assert len(run_file(out, run_id)) == 2  # a second W&B session of the same run
