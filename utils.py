"""The course's `utils` module. Each helper lives in the dqn package; this file only gathers them."""

from dqn.agent.schedules import linear_decay
from dqn.evaluation.analysis import get_cum_discounted_rewards, play_and_log_episode
from dqn.machine.system import is_enough_ram
from dqn.train.plotting import img_by_obs, smoothen

__all__ = ["get_cum_discounted_rewards", "img_by_obs", "is_enough_ram", "linear_decay",
           "play_and_log_episode", "smoothen"]
