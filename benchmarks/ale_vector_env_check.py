"""Does ale-py's own vector env (`ale_py.AtariVectorEnv`: the standard Atari wrappers in C++, on threads)
give the frames our wrappers give, for the same actions? Breakout, one env, step for step.

Both envs: no sticky actions, no no-op starts, whole games (no life-loss episodes), raw rewards, 84x84
luminance, 4 frames stacked, max over the last 2 of 4 repeated frames. Our FireResetEnv presses FIRE then
RIGHT after a reset; ale-py's `use_fire_reset` presses FIRE only, so its env is reset without it and given
the same two actions by hand. Prints how many pixels of the newest frame differ, and by how much.

    python benchmarks/ale_vector_env_check.py [--steps 2000] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np
from ale_py.vector_env import AtariVectorEnv

from dqn.envs.families.atari import make_atari_env

FIRE, RIGHT = 1, 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="agent steps compared, at most (one game)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random actions and the resets")
    args = parser.parse_args()

    ours = make_atari_env("BreakoutNoFrameskip-v4", clip_rewards=False, episodic_life=False, noop_max=0,
                          preprocessing="nature")
    theirs = AtariVectorEnv("breakout", 1, noop_max=0, episodic_life=False, reward_clipping=False,
                            use_fire_reset=False, repeat_action_probability=0.0)
    ours.reset(seed=args.seed)
    theirs.reset(seed=args.seed)
    for action in (FIRE, RIGHT):
        theirs.step(np.array([action]))

    rng = np.random.default_rng(args.seed)
    pixels, largest, score = [], 0, 0.0
    for step in range(args.steps):
        action = int(rng.integers(ours.action_space.n))
        frames, reward, terminated, truncated, _ = ours.step(action)
        their_frames, their_reward, their_terminated, their_truncated, _ = theirs.step(np.array([action]))
        difference = np.abs(frames[-1].astype(int) - their_frames[0, -1].astype(int))
        if terminated or truncated:  # the game's last frame, told apart: ale-py's may already be the next game's
            print(f"the game's last frame: {int((difference > 0).sum())} pixels differ, by at most {difference.max()}")
        else:
            pixels.append(int((difference > 0).sum()))
            largest = max(largest, int(difference.max()))
        if reward != their_reward[0] or terminated != their_terminated[0]:
            print(f"the games part at agent step {step}: rewards {reward} / {their_reward[0]}, "
                  f"ends {terminated} / {their_terminated[0]}")
            break
        score += reward
        if terminated or truncated:
            break
    print(f"{step + 1} agent steps, score {score:.0f} in both; newest frame before the last: {np.mean(pixels):.1f} "
          f"of {frames[-1].size} pixels differ on average (at most {max(pixels)}), by at most {largest} gray "
          f"levels; {sum(p == 0 for p in pixels)} steps with identical frames")


if __name__ == "__main__":
    main()
