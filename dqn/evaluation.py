"""Playing whole episodes or games with an agent, apart from training."""

from __future__ import annotations

import numpy as np


def _game_over(env) -> bool:
    """True unless an EpisodicLifeEnv in the stack says only a life was lost."""
    try:
        return bool(env.get_wrapper_attr("was_real_done"))
    except AttributeError:
        return True


def play_episodes(env, agent, n_games: int = 1, greedy: bool = False, t_max: int = 10_000,
                  seed: int | None = None, full_games: bool = False) -> list[float]:
    """Return the reward sum of each of n_games episodes, each at most t_max steps.

    An episode ends when the env says terminated or truncated. With full_games, an episode
    that only lost a life (EpisodicLifeEnv) goes on into the next one until the game is over,
    and t_max counts the steps of the whole game. With a seed, the first reset is seeded and
    the rest follow from it, so the same seed plays the same games.
    """
    scores = []
    for game in range(n_games):
        state, _ = env.reset(seed=seed if game == 0 else None)
        score = 0.0
        for _ in range(t_max):
            qvalues = agent.get_qvalues(state[None])
            action = qvalues.argmax(axis=-1)[0] if greedy else agent.sample_actions(qvalues)[0]
            state, reward, terminated, truncated, _ = env.step(int(action))
            score += float(reward)
            if terminated or truncated:
                if not full_games or _game_over(env):
                    break
                state, _ = env.reset()
        scores.append(score)
    return scores


def evaluate(env, agent, n_games: int = 1, greedy: bool = False, t_max: int = 10_000,
             seed: int | None = None) -> float:
    """The course's evaluate: the mean reward over n_games episodes."""
    return float(np.mean(play_episodes(env, agent, n_games, greedy, t_max, seed)))
