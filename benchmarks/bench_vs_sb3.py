"""This project's training loop and Stable-Baselines3's DQN, side by side in one run.

Both train on BreakoutNoFrameskip-v4 with 84x84 frames, the Nature CNN, batch 32, one update per
4 agent steps and learning from agent step 1,000; both are timed over the steps after that.
They run one after the other, never at once, so neither slows the other. With --config, the recipes
of run or model folders (`dqn bench --config DIR`) are timed in the same run, against the same SB3 figure.

    pip install -r benchmarks/requirements.txt
    python benchmarks/bench_vs_sb3.py --steps 20000 [--config models/breakout]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

WARMUP_STEPS = 1_000


def sb3_steps_per_s(steps: int) -> float:
    import ale_py
    import gymnasium as gym
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    class WarmupTimer(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps == WARMUP_STEPS:
                self.start = time.perf_counter()
            return True

    gym.register_envs(ale_py)
    env = VecFrameStack(make_atari_env("BreakoutNoFrameskip-v4", n_envs=1, seed=0), n_stack=4)
    model = DQN("CnnPolicy", env, buffer_size=100_000, learning_starts=WARMUP_STEPS, batch_size=32,
                train_freq=4, gradient_steps=1, target_update_interval=1_000, seed=0, verbose=0)
    timer = WarmupTimer()
    model.learn(total_timesteps=WARMUP_STEPS + steps, callback=timer)
    return steps / (time.perf_counter() - timer.start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="timed agent steps, after warm-up")
    parser.add_argument("--num-envs", type=int,
                        help="envs of this project's loop (default: `dqn bench`'s; SB3 steps one)")
    parser.add_argument("--config", nargs="+", default=[], metavar="DIR",
                        help="also time the recipes of these run or model folders (their own envs)")
    args = parser.parse_args()

    def dqn_bench(*flags: str) -> dict:
        command = [sys.executable, "-m", "dqn", "bench", "--steps", str(args.steps), *flags, "--json"]
        return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)

    ours = dqn_bench(*([] if args.num_envs is None else ["--num-envs", str(args.num_envs)]))
    recipes = {folder: dqn_bench("--config", folder) for folder in args.config}
    sb3 = sb3_steps_per_s(args.steps)
    print(json.dumps({"dqn": ours, **{f"dqn --config {k}": v for k, v in recipes.items()},
                      "sb3_steps_per_s": sb3, "ratio": ours["steps_per_s"] / sb3}, indent=2))
    print(f"\ndqn {ours['steps_per_s']:.1f} agent steps/s, SB3 {sb3:.1f}: {ours['steps_per_s'] / sb3:.2f}x")
    for folder, report in recipes.items():
        print(f"dqn bench --config {folder}: {report['steps_per_s']:.1f} agent steps/s, "
              f"{report['steps_per_s'] / sb3:.2f}x SB3")


if __name__ == "__main__":
    main()
