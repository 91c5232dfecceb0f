"""Evaluation protocols and sticky actions, on the real ALE (Breakout; Seaquest for no-op starts);
playing by a protocol, in an env that counts rewarded actions."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

from dqn.agent.policy import epsilon_greedy
from dqn.config import TrainConfig, preset_config
from dqn.envs.factory import env_state, make_env, restore_env
from dqn.envs.families.atari import make_atari_env
from dqn.errors import UserError
from dqn.evaluation.games import game_over, homework_score, play_episodes, start_new_game
from dqn.evaluation.protocols import PROTOCOLS, homework_final_score, play_by_protocol, protocol_config
from dqn.evaluation.registry import FULL_GAME_STEPS

ENV_ID = "BreakoutNoFrameskip-v4"
PADDLE_X = 72  # Breakout's RAM byte of the paddle's position


def protocol_env(name, **overrides):
    return make_env(protocol_config(preset_config("breakout", **overrides), name), evaluation=True)


def sticky_probability(env) -> float:
    # StickyActionEnv plays the sticky actions, never the emulator (see its docstring)
    assert env.unwrapped.ale.getFloat("repeat_action_probability") == 0.0
    try:
        return env.get_wrapper_attr("repeat_action_probability")
    except AttributeError:  # no StickyActionEnv in the stack
        return 0.0


def test_each_protocol_sets_its_env():
    noop, sticky = protocol_env("noop"), protocol_env("sticky")
    assert sticky_probability(noop) == 0.0 and noop.get_wrapper_attr("noop_max") == 30
    assert sticky_probability(sticky) == 0.25
    with pytest.raises(AttributeError):  # no NoopResetEnv in the stack
        sticky.get_wrapper_attr("noop_max")
    # training keeps the training config's settings
    training = protocol_env("training", noop_max=7, repeat_action_probability=0.1)
    assert training.get_wrapper_attr("noop_max") == 7 and sticky_probability(training) == pytest.approx(0.1)
    for env in (noop, sticky):  # 108,000 frames a game: the emulator's cap and the step limit agree
        assert env.unwrapped.ale.getInt("max_num_frames_per_episode") == 108_000 == 4 * FULL_GAME_STEPS
    assert PROTOCOLS["noop"].epsilon == 0.05 and PROTOCOLS["sticky"].t_max_steps == FULL_GAME_STEPS


def test_atari_protocols_refuse_other_envs():
    for name in ("noop", "sticky"):
        with pytest.raises(UserError, match=f"the {name} protocol is for atari envs; CartPole-v1 is a vector env"):
            protocol_config(TrainConfig(), name)
    assert protocol_config(TrainConfig(), "training") == TrainConfig()


def test_noop_starts_vary_the_first_observation():
    """Seaquest, whose screen moves from the first frame (Breakout's stands still until the
    serve, so most no-op counts look alike there)."""
    def starts(name, **overrides):
        """The numbers of distinct first observations and start frames of eight seeds' games."""
        env = protocol_env(name, env_id="SeaquestNoFrameskip-v4", **overrides)
        firsts, frames = set(), set()
        for seed in range(8):
            firsts.add(start_new_game(env, seed)[0].tobytes())
            frames.add(env.unwrapped.ale.getEpisodeFrameNumber())
        return len(firsts), len(frames)

    assert starts("noop") == (8, 8)
    assert starts("training", noop_max=0) == (1, 1)


@pytest.mark.parametrize("probability, moves", [(1.0, False), (0.0, True)])
def test_sticky_actions_repeat_the_previous_action(probability, moves):
    """With probability 1 the action each game starts with (NOOP) is repeated for ever, so
    pressing RIGHT and LEFT never moves the paddle; with 0 it moves at once."""
    env = make_atari_env(ENV_ID, noop_max=0, repeat_action_probability=probability)
    env.reset(seed=0)
    ram = env.unwrapped.ale.getRAM
    start = int(ram()[PADDLE_X])
    positions = []
    for action in (2, 2, 2, 3, 3, 3):
        env.step(action)
        positions.append(int(ram()[PADDLE_X]))
    assert any(x != start for x in positions) == moves


def test_sticky_actions_repeat_at_their_rate_each_frame():
    import gymnasium as gym

    from dqn.envs.atari_wrappers import StickyActionEnv

    env = StickyActionEnv(gym.make(ENV_ID, repeat_action_probability=0.0), 0.25)
    env.reset(seed=0)
    stuck = 0
    for _ in range(4_000):
        previous = env.last_action
        action = 3 if previous == 2 else 2  # always a change, so each repeat shows
        env.step(action)
        stuck += env.last_action == previous
    assert abs(stuck / 4_000 - 0.25) < 0.03  # 4 standard deviations


def test_sticky_games_follow_the_seed_and_resume_exactly():
    def play(env, seed):
        env.reset(seed=seed)
        return np.stack([env.step(t % 4)[0] for t in range(80)])

    assert np.array_equal(play(protocol_env("sticky"), 3), play(protocol_env("sticky"), 3))
    assert not np.array_equal(play(protocol_env("sticky"), 3), play(protocol_env("sticky"), 4))
    env = protocol_env("sticky")
    play(env, 5)
    copy = restore_env(env_state(env))  # what a resumed run goes on from: the sticky RNG included
    for t in range(200):
        a, b = env.step(t % 4), copy.step(t % 4)
        assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4]
        if a[2] or a[3]:
            assert np.array_equal(env.reset()[0], copy.reset()[0])


def test_v5_ids_keep_their_own_sticky_actions():
    v5 = TrainConfig(env_id="ALE/Breakout-v5")
    assert sticky_probability(make_env(v5)) == 0.25
    assert make_env(v5).unwrapped._frameskip == 1  # MaxAndSkip skips, not the emulator too
    assert sticky_probability(make_env(TrainConfig(env_id=ENV_ID))) == 0.0
    for env_id in ("ALE/Breakout-v5", ENV_ID):
        assert sticky_probability(make_env(TrainConfig(env_id=env_id, repeat_action_probability=0.5))) == 0.5
    with pytest.raises(UserError, match="repeat_action_probability is for atari envs; CartPole-v1 is a vector env"):
        make_env(TrainConfig(repeat_action_probability=0.25))
    with pytest.raises(UserError, match=r"repeat_action_probability must be in \[0, 1\]"):
        TrainConfig(env_id=ENV_ID, repeat_action_probability=1.5).validate()


class NoopAgent:
    """Always NOOP: in Breakout the served ball is missed, a life lost about every 100 frames."""

    def get_qvalues(self, states):
        return np.eye(4)[[0] * len(states)]


def test_the_frame_cap_ends_a_game_with_lives_left():
    env = make_atari_env(ENV_ID, noop_max=0, max_frames_per_game=250)
    play_episodes(env, NoopAgent(), n_games=1, greedy=True, t_max=10_000, full_games=True)
    ale = env.unwrapped.ale
    assert ale.getEpisodeFrameNumber() == 250 and ale.lives() >= 2 and ale.game_truncated()
    assert game_over(env)


class RewardedActionEnv(gym.Env):
    """Reward 1 for action 1, 0 for action 0; a game ends only at its step limit."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(1, dtype=np.float32), float(action), False, False, {}


class PrefersActionOne:
    """Greedy play takes action 1; the random actions come from whatever epsilon and generator it is given."""

    epsilon, rng = 0.0, None

    def get_qvalues(self, states):
        return np.tile([0.0, 1.0], (len(states), 1))

    def sample_actions(self, qvalues):
        return epsilon_greedy(qvalues, self.epsilon, self.rng)


def test_play_by_protocol_takes_its_epsilon_step_limit_and_seed():
    greedy = dataclasses.replace(PROTOCOLS["sticky"], t_max_steps=10)
    # greedy play is rewarded at every step, until the protocol's step limit ends each game
    assert play_by_protocol(RewardedActionEnv(), PrefersActionOne(), greedy, n_games=2, seed=0) == [10.0, 10.0]

    random_play = dataclasses.replace(PROTOCOLS["noop"], epsilon=1.0, t_max_steps=100)
    agent = PrefersActionOne()
    scores = play_by_protocol(RewardedActionEnv(), agent, random_play, n_games=3, seed=5)
    assert agent.epsilon == 1.0
    # uniform random actions: about 50 of 100 steps rewarded (5 sigma is 25), other ones each game
    assert all(25 <= score <= 75 for score in scores) and len(set(scores)) > 1
    # the seed seeds the agent's random actions: the same seed plays the same games, another seed others
    assert play_by_protocol(RewardedActionEnv(), PrefersActionOne(), random_play, n_games=3, seed=5) == scores
    assert play_by_protocol(RewardedActionEnv(), PrefersActionOne(), random_play, n_games=3, seed=6) != scores


class RandomBreakoutAgent:
    """Uniform random actions from a generator of its own, whatever epsilon it is given."""

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def get_qvalues(self, states):
        return self.rng.random((len(states), 4))


def test_homework_final_score_is_played_without_noop_starts():
    """30 one-life episodes in the course's env, even for a config that trains with no-op starts."""
    assert preset_config("breakout").noop_max == 30
    score, per_life = homework_final_score(RandomBreakoutAgent(), preset_config("breakout"))
    course_env = make_atari_env(ENV_ID, clip_rewards=False, noop_max=0)
    assert (score, per_life) == homework_score(course_env, RandomBreakoutAgent(), seed=9)
    assert len(per_life) == 30 and score == pytest.approx(5 * np.mean(per_life))
    # no-op starts would have played other games (here with another score)
    with_noop_starts = make_atari_env(ENV_ID, clip_rewards=False, noop_max=30)
    assert homework_score(with_noop_starts, RandomBreakoutAgent(), seed=9)[1] != per_life


def test_evaluation_during_training_plays_by_the_configs_protocol(tmp_path):
    """The evaluator plays the protocol objects that `dqn evaluate` plays: the same games, scores and seeds."""
    from dqn.agent.policy import build_agent
    from dqn.train.evaluator import EVAL_SEED_OFFSET, Evaluator

    config = preset_config("breakout", eval_protocol="noop", eval_games=2, eval_t_max=300, seed=1)
    evaluator = Evaluator(config, tmp_path)
    network = build_agent(config, evaluator.env.observation_space.shape, 4)
    protocol = dataclasses.replace(PROTOCOLS["noop"], t_max_steps=300)
    expected = play_by_protocol(protocol_env("noop", seed=1), network, protocol, 2, seed=1 + EVAL_SEED_OFFSET)
    assert evaluator.play(network) == expected
    assert network.epsilon == 0.05 and network.training  # the protocol's epsilon; back to training mode
    evaluator.close()

    # refused as the config is made, before any env or network
    with pytest.raises(UserError, match="eval_protocol must be one of training, noop, sticky, got 'nope'"):
        preset_config("breakout", eval_protocol="nope")
    with pytest.raises(UserError, match="eval_protocol 'noop' is for atari envs; CartPole-v1 is a vector env"):
        preset_config("cartpole", eval_protocol="noop")
