"""Playing whole episodes or games with an agent, apart from training."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dqn.contracts import PlayingAgent

HOMEWORK_LIVES = 30  # one-life episodes in the course's final score


def game_over(env) -> bool:
    """True unless an EpisodicLifeEnv in the stack says only a life was lost."""
    try:
        return bool(env.get_wrapper_attr("was_real_done"))
    except AttributeError:
        return True


def start_new_game(env, seed: int | None = None):
    """Reset to a new game, even if the last one was cut short with lives left (reset(seed=s) alone does
    that; an unseeded reset needs the flag below)."""
    # without an EpisodicLifeEnv in the stack this sets nothing: every reset starts a new game
    env.set_wrapper_attr("was_real_done", True, force=False)
    return env.reset(seed=seed)


def play_episodes(env, agent: PlayingAgent, n_games: int = 1, greedy: bool = False, t_max: int = 10_000,
                  seed: int | None = None, full_games: bool = False, on_step=None, on_game=None) -> list[float]:
    """Return the reward sum of each of n_games episodes, each at most t_max steps.

    An episode ends when the env says terminated or truncated. With full_games, each game
    starts fresh, an episode that only lost a life (EpisodicLifeEnv) goes on into the next one
    until the game is over, and t_max counts the steps of the whole game. With a seed, the
    first reset is seeded and the rest follow from it, so the same seed plays the same games.
    on_step(score, step) is called after every step, e.g. to record a video; on_game(score,
    steps, cut) after every episode, cut saying whether t_max ended it before the env did.
    """
    scores = []
    for game in range(n_games):
        game_seed = seed if game == 0 else None
        state, _ = start_new_game(env, game_seed) if full_games else env.reset(seed=game_seed)
        score, steps, cut = 0.0, 0, True
        for steps in range(1, t_max + 1):
            qvalues = agent.get_qvalues(state[None])
            action = qvalues.argmax(axis=-1)[0] if greedy else agent.sample_actions(qvalues)[0]
            state, reward, terminated, truncated, _ = env.step(int(action))
            score += float(reward)
            if on_step is not None:
                on_step(score, steps)
            if terminated or truncated:
                if not full_games or game_over(env):
                    cut = False
                    break
                state, _ = env.reset()
        scores.append(score)
        if on_game is not None:
            on_game(score, steps, cut)
    return scores


def evaluate(env, agent: PlayingAgent, n_games: int = 1, greedy: bool = False, t_max: int = 10_000,
             seed: int | None = None) -> float:
    """The course's evaluate: the mean reward over n_games episodes."""
    return float(np.mean(play_episodes(env, agent, n_games, greedy, t_max, seed)))


def homework_score(env, agent: PlayingAgent, seed: int = 9, n_lives: int = HOMEWORK_LIVES, t_max: int = 10_000,
                   lives_per_game: int = 5, on_step=None, on_game=None) -> tuple[float, list[float]]:
    """The course's final score: the mean of n_lives one-life episodes of greedy play, times 5.

    env must end an episode at each lost life (EpisodicLifeEnv) and give raw rewards. As in the
    notebook, it is seeded by one reset and the episodes follow from there. on_step and on_game
    (a life's) as play_episodes's.
    """
    env.reset(seed=seed)
    per_life = play_episodes(env, agent, n_lives, greedy=True, t_max=t_max, on_step=on_step, on_game=on_game)
    return float(np.mean(per_life)) * lives_per_game, per_life
