"""Videos of whole games played greedily, written headless as H.264 mp4 (plays in browsers)."""

from __future__ import annotations

from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

from dqn.evaluation import play_episodes


def _annotate(frame: np.ndarray, scale: int, text: str) -> np.ndarray:
    big = cv2.resize(frame, (frame.shape[1] * scale, frame.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    banner = np.zeros((24, big.shape[1], 3), dtype=np.uint8)
    cv2.putText(banner, text, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return np.ascontiguousarray(np.concatenate([banner, big]))


def record_game(agent, env, path: Path, seed: int | None = None, t_max: int = 27_000,
                fps: int = 15, scale: int = 2) -> float:
    """Play one full game (every life) greedily in env (made with render_mode="rgb_array"),
    write it to path, return the score.

    One video frame per agent step: 15 fps is real time for Atari's 60 Hz with 4 frames a step.
    """
    writer = None

    def write_frame(score: float, step: int) -> None:
        nonlocal writer
        frame = _annotate(env.render(), scale, f"score {score:.0f}   step {step}")
        if writer is None:
            height, width = frame.shape[:2]
            writer = imageio_ffmpeg.write_frames(str(path), (width, height), fps=fps, codec="libx264",
                                                 pix_fmt_out="yuv420p", macro_block_size=1,
                                                 output_params=["-loglevel", "error"])
            writer.send(None)  # start the encoder
        writer.send(frame)

    try:
        [score] = play_episodes(env, agent, 1, greedy=True, t_max=t_max, seed=seed, full_games=True,
                                on_step=write_frame)
    finally:
        if writer is not None:
            writer.close()
    return score
