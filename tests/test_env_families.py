"""Env families (dqn/envs/registry.py): which ids each takes, their options as config fields and flags, the
checks that keep one family's settings off another's envs, and MinAtar, the family added as one module."""

import csv
import json
import sys
from importlib import import_module

import gymnasium as gym
import numpy as np
import pytest
import torch.nn as nn
from conftest import assert_one_line_error, dqn

from dqn.agent.policy import build_agent
from dqn.config import TrainConfig, preset_config
from dqn.envs.factory import make_env
from dqn.envs.families.atari import ATARI_PREPROCESSING
from dqn.envs.registry import ATARI_PREPROCESSINGS, FAMILY_KINDS, cnn_of, family_of, register_minatar_envs
from dqn.errors import ConfigError, UserError
from dqn.train.loading import load_agent

MINATAR = preset_config("minatar")


@pytest.mark.parametrize("env_id, family", [("BreakoutNoFrameskip-v4", "atari"), ("ALE/Pong-v5", "atari"),
                                            ("MinAtar/Breakout-v1", "minatar"), ("CartPole-v1", "vector"),
                                            ("Acrobot-v1", "vector")])
def test_each_id_has_one_family(env_id, family):
    assert family_of(env_id).name == family
    assert [kind.name for kind in FAMILY_KINDS.values() if kind.takes(env_id)][:1] == [family]


def test_each_family_is_a_module_that_makes_envs_and_its_options_are_fields():
    fields = TrainConfig.__dataclass_fields__
    for kind in FAMILY_KINDS.values():
        assert callable(import_module(f"dqn.envs.families.{kind.module}").make_env)
        assert all(option.name in fields and fields[option.name].default == option.default for option in kind.options)
        assert kind.option_names() >= set(kind.observation_options)
    assert set(ATARI_PREPROCESSING) == set(ATARI_PREPROCESSINGS)


@pytest.mark.parametrize("env_id, cnn, expected", [("BreakoutNoFrameskip-v4", "auto", "nature"),
                                                    ("BreakoutNoFrameskip-v4", "nips", "nips"),
                                                    ("MinAtar/Breakout-v1", "auto", "minatar"),
                                                    ("CartPole-v1", "auto", None), ("CartPole-v1", "impala", None)])
def test_cnn_auto_is_the_familys_encoder(env_id, cnn, expected):
    assert cnn_of(TrainConfig(env_id=env_id, cnn=cnn)) == expected


@pytest.mark.parametrize("changes, message", [
    (dict(env_id="CartPole-v1", repeat_action_probability=0.1),
     "repeat_action_probability is for atari envs; CartPole-v1 is a vector env"),
    (dict(env_id="MinAtar/Breakout-v1", eval_protocol="sticky"),
     "eval_protocol 'sticky' is for atari envs; MinAtar/Breakout-v1 is a minatar env"),
    (dict(env_id="CartPole-v1", augment_shift_px=4), "augment_shift_px shifts images; CartPole-v1 has vector"),
    (dict(env_id="MinAtar/Breakout-v1", cnn="nature"), "cnn must be 'auto' or one of minatar, impala for minatar"),
    (dict(frame_stack=0), "frame_stack must be positive, got 0"),
    (dict(atari_preprocessing="huge"), "atari_preprocessing must be 'homework' or 'nature', got 'huge'"),
])
def test_a_familys_settings_are_refused_elsewhere(changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        TrainConfig(**changes)


@pytest.mark.parametrize("flags, flag", [(["--frame-stack", "2"], "--frame-stack"),
                                        (["--no-clip-rewards"], "--clip-rewards")])
def test_an_atari_flag_given_for_another_env_is_refused_in_one_line(flags, flag):
    assert_one_line_error(dqn("train", "--preset", "cartpole", *flags, "--print-config"),
                          f"{flag} is for atari envs; CartPole-v1 is a vector env")


def test_minatar_frames_are_its_state_channels_first_as_bytes():
    env = make_env(MINATAR)
    obs, _ = env.reset(seed=0)
    for action in (1, 1, 2, 0, 2):
        obs, *_ = env.step(action)
    state = env.unwrapped.game.state()  # (10, 10, 4) booleans: paddle, ball, trail, bricks
    assert state.shape == (10, 10, 4) and obs.shape == (4, 10, 10) and obs.dtype == np.uint8
    for channel in range(4):
        assert np.array_equal(obs[channel], np.where(state[:, :, channel], 255, 0))
    assert obs[3].sum() == 30 * 255  # the three rows of bricks, none hit yet
    assert env.action_space.n == 3  # v1: the minimal set, no-op, left, right


def test_minatar_network_is_the_papers():
    env = make_env(MINATAR)
    agent = build_agent(MINATAR, env.observation_space.shape, int(env.action_space.n))
    conv, linear = [m for m in agent.network.body if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride) == (4, 16, (3, 3), (1, 1))
    assert (linear.in_features, linear.out_features) == (16 * 8 * 8, 128)
    obs, _ = env.reset(seed=0)
    # the network divides by 255: MinAtar's 0 and 1 come back
    assert agent.get_qvalues(obs[None]).shape == (1, 3)


def test_minatar_missing_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "minatar.gym", None)  # as if the extra were not installed
    with pytest.raises(UserError, match=r"'MinAtar/Breakout-v1' needs MinAtar \(GPL-3.0\): pip install"):
        register_minatar_envs("MinAtar/Breakout-v1")


def test_minatar_trains_and_evaluates_from_the_command_line(tmp_path):
    run = tmp_path / "run"
    result = dqn("train", "--preset", "minatar", "--total-steps", "1500", "--learning-starts", "500",
                 "--eval-freq-steps", "1500", "--eval-games", "2", "--log-freq-steps", "500", "--torch-threads", "1",
                 "--out", run, "--quiet")
    assert result.returncode == 0, result.stderr
    assert {"config.json", "checkpoint.pt", "best.pt", "metrics.csv"} <= {p.name for p in run.iterdir()}
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(row["step"]) for row in rows] == [500, 1000, 1500]
    assert int(rows[-1]["updates"]) == 1000  # an update each agent step after learning_starts
    assert json.loads((run / "config.json").read_text())["cnn"] == "auto"
    report = dqn("evaluate", run, "--games", "2", "--json")
    assert report.returncode == 0, report.stderr
    assert len(json.loads(report.stdout)["scores"]) == 2
    assert_one_line_error(dqn("evaluate", run, "--protocol", "noop"),
                          "the noop protocol is for atari envs; MinAtar/Breakout-v1 is a minatar env")
    assert_one_line_error(dqn("evaluate", run, "--homework"),
                          "the course's final score (--homework) is for atari envs")
    with pytest.raises(UserError, match="final score .* is for atari envs"):  # the library refuses it alike
        load_agent(run).homework_score()


class ImageToy(gym.Env):
    """An env of images that no env family makes."""

    observation_space = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, render_mode=None):
        self.render_mode = render_mode


def test_an_image_env_of_no_family_is_refused_in_one_line():
    if "ImageToy-v0" not in gym.registry:
        gym.register("ImageToy-v0", entry_point=ImageToy)
    with pytest.raises(UserError, match=r"shape \(8, 8, 3\); images train only as the env families that make "
                                        r"them \(atari and minatar\) do"):
        make_env(preset_config("cartpole", env_id="ImageToy-v0"))
