"""The course's `utils` module. Each helper lives in the dqn package; this file only gathers them."""

from dqn.analysis import get_cum_discounted_rewards, play_and_log_episode
from dqn.plotting import img_by_obs, smoothen
from dqn.schedules import linear_decay
from dqn.system import is_enough_ram

__all__ = ["get_cum_discounted_rewards", "img_by_obs", "is_enough_ram", "linear_decay",
           "play_and_log_episode", "smoothen"]
