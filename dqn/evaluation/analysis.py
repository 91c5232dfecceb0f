"""Diagnostics of an agent's value estimates along one greedy episode."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dqn.contracts import PlayingAgent


def get_cum_discounted_rewards(rewards, gamma: float = 0.99) -> np.ndarray:
    """G_t = r_t + gamma * G_{t+1}, computed backwards in one pass."""
    rewards = np.asarray(rewards, dtype=np.float64)
    returns = np.zeros_like(rewards)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


def play_and_log_episode(env, agent: PlayingAgent, gamma: float = 0.99, t_max: int = 10_000) -> dict:
    """Play one greedy episode and log, for every visited state, the agent's view of it.

    Returns arrays keyed states, v_mc (discounted return from the state on), v_agent
    (max_a Q), q_spreads (max_a Q - min_a Q), td_errors (|r + gamma V(s') - V(s)|, with
    V(s') = 0 after a terminal step), rewards, and episode_finished (terminated or truncated
    before t_max).
    """
    states, v_agent, q_spreads, rewards = [], [], [], []
    state, _ = env.reset()
    terminated = truncated = False
    for _ in range(t_max):
        states.append(state)
        qvalues = agent.get_qvalues(state[None])[0]
        v_agent.append(float(np.max(qvalues)))
        q_spreads.append(float(np.max(qvalues) - np.min(qvalues)))
        state, reward, terminated, truncated, _ = env.step(int(np.argmax(qvalues)))
        rewards.append(float(reward))
        if terminated or truncated:
            break
    # The state after the last step bootstraps unless the game really ended there.
    last_value = 0.0 if terminated else float(np.max(agent.get_qvalues(state[None])))
    next_values = np.append(np.asarray(v_agent[1:]), last_value)
    rewards_arr = np.asarray(rewards)
    td_errors = np.abs(rewards_arr + gamma * next_values - np.asarray(v_agent))
    return {
        "states": np.asarray(states),
        "v_mc": get_cum_discounted_rewards(rewards_arr, gamma),
        "v_agent": np.asarray(v_agent),
        "q_spreads": np.asarray(q_spreads),
        "td_errors": td_errors,
        "rewards": rewards_arr,
        "episode_finished": np.asarray(terminated or truncated),
    }
