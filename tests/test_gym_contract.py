"""Every env the project builds keeps gymnasium's contract, as gymnasium itself checks it: reset(seed=s)
starts the same game whatever came before, gymnasium.make(env.spec) re-creates the whole stack, and
check_env's checks of spaces, observations, info and determinism pass. Real ALE throughout."""

import dataclasses
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from dqn.config import preset_config
from dqn.envs.factory import make_env
from dqn.envs.families.atari import make_atari_env
from dqn.evaluation.protocols import protocol_env

ENV_ID = "BreakoutNoFrameskip-v4"
BREAKOUT = preset_config("breakout")

# every stack the package builds: training, evaluation, each protocol, the homework score's, an ALE v5 id
# (sticky actions of its own), the notebook's frames; a vector env and MinAtar's
ENVS = {
    "training": lambda: make_env(BREAKOUT),
    "evaluation": lambda: make_env(BREAKOUT, evaluation=True),
    "noop": lambda: protocol_env(BREAKOUT, "noop"),
    "sticky": lambda: protocol_env(BREAKOUT, "sticky"),
    "homework": lambda: make_env(dataclasses.replace(BREAKOUT, noop_max=0), evaluation=True),
    "v5": lambda: make_env(dataclasses.replace(BREAKOUT, env_id="ALE/Breakout-v5")),
    "notebook frames": lambda: make_atari_env(ENV_ID, preprocessing="homework", dtype=np.float32),
    "cartpole": lambda: make_env(preset_config("cartpole")),
    "minatar": lambda: make_env(preset_config("minatar")),
}
ATARI = [name for name in ENVS if name not in ("cartpole", "minatar")]


def trace(env, seed: int, steps: int = 60, actions_seed: int = 0):
    """Observations, rewards and ends of `steps` random steps from reset(seed=seed), going on after each end."""
    rng = np.random.default_rng(actions_seed)
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        out += [obs, reward, terminated, truncated]
        if terminated or truncated:
            obs, _ = env.reset()
            out.append(obs)
    return out


def same(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("name", ENVS)
def test_gymnasium_checks_the_env(name):
    env = ENVS[name]()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    # check_env advises checking env.unwrapped; the stack is what is under test. CartPole's own space is unbounded.
    expected = ("different from the unwrapped version", "infinity")
    assert [str(w.message) for w in caught if not any(e in str(w.message) for e in expected)] == []


@pytest.mark.parametrize("name", ATARI)
def test_a_seed_starts_a_new_game_whatever_came_before(name):
    env = ENVS[name]()
    first = trace(env, seed=5)
    ale = env.unwrapped.ale
    # twice in a row: the FIRE steps of the first reset must not leave a game in progress for the second
    assert np.array_equal(env.reset(seed=5)[0], env.reset(seed=5)[0])
    # a game cut mid-way, a life lost and the next one begun, then the same seed: the same game from its start
    terminated = False
    while not terminated:
        _, _, terminated, _, _ = env.step(0)  # the served ball falls past the still paddle
    env.reset()
    for _ in range(10):
        env.step(0)
    assert ale.lives() == 4
    assert same(trace(env, seed=5), first)
    assert env.reset(seed=5)[1]["lives"] == 5 and ale.getEpisodeFrameNumber() < 200  # no-ops and FIRE only


def test_without_a_seed_the_game_goes_on_after_a_lost_life():
    """The homework score's games: one seeded reset, then an episode a life, lives following each other."""
    env = ENVS["homework"]()
    env.reset(seed=9)
    ale = env.unwrapped.ale
    frame = ale.getEpisodeFrameNumber()
    _, info = env.reset()  # right after the seeded reset, as the notebook's score does: the same game goes on
    assert info["lives"] == 5 and ale.getEpisodeFrameNumber() > frame
    terminated = False
    while not terminated:
        _, _, terminated, truncated, info = env.step(0)  # the served ball falls past the still paddle
    frame = ale.getEpisodeFrameNumber()
    _, info = env.reset()
    assert info["lives"] == 4 and ale.getEpisodeFrameNumber() > frame  # the same game, one life down
    _, info = env.reset(seed=9)
    assert info["lives"] == 5 and ale.getEpisodeFrameNumber() < frame  # a seed: a new game


@pytest.mark.parametrize("name", ENVS)
def test_the_spec_re_creates_the_env(name):
    """gymnasium.make(env.spec) builds the same wrappers with the same arguments: the same games, step by step
    (sticky actions included, drawn from the seeded env's generator)."""
    env = ENVS[name]()
    remade = gym.make(env.spec)
    assert str(remade) == str(env) and remade.observation_space == env.observation_space
    assert remade.spec == env.spec
    for seed in (1, 2):
        assert same(trace(remade, seed, steps=400, actions_seed=seed), trace(env, seed, steps=400, actions_seed=seed))


def test_sticky_actions_are_in_the_spec():
    spec = ENVS["sticky"]().spec
    [sticky] = [w for w in spec.additional_wrappers if w.name == "StickyActionEnv"]
    assert sticky.kwargs == {"repeat_action_probability": 0.25}
    # the emulator's own sticky actions stay off: the wrapper plays them (see StickyActionEnv)
    assert spec.kwargs["repeat_action_probability"] == 0.0
