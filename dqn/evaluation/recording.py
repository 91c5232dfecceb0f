"""Videos of whole games played greedily, written headless as H.264 mp4 (plays in browsers)."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import imageio_ffmpeg
import numpy as np

from dqn.evaluation.games import play_episodes
from dqn.evaluation.registry import FULL_GAME_STEPS
from dqn.machine.interrupts import stops_held

if TYPE_CHECKING:
    from dqn.contracts import PlayingAgent


def _annotate(frame: np.ndarray, scale: int, text: str) -> np.ndarray:
    big = cv2.resize(frame, (frame.shape[1] * scale, frame.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    banner = np.zeros((24, big.shape[1], 3), dtype=np.uint8)
    cv2.putText(banner, text, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return np.ascontiguousarray(np.concatenate([banner, big]))


class Mp4Encoder:
    """ffmpeg turning the RGB frames written to it into an H.264 mp4 at path. Its messages are kept
    apart, so that a failure (a full disk) becomes one OSError with ffmpeg's first message."""

    def __init__(self, path: Path, width: int, height: int, fps: int):
        self.log = tempfile.TemporaryFile()
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "-",
                   "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "mp4", str(path)]
        # a session of its own: a Ctrl-C at the terminal reaches us, and we decide what ffmpeg does
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=self.log, start_new_session=True)

    def write(self, frame: np.ndarray) -> None:
        try:
            self.process.stdin.write(frame.tobytes())
        except BrokenPipeError:  # ffmpeg stopped: close() says why
            self.close()
            raise

    def close(self) -> None:
        """Finish the file; OSError if ffmpeg could not."""
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        if self.process.wait():
            self.log.seek(0)
            lines = self.log.read().decode(errors="replace").strip().splitlines() or ["no message"]
            # the first message says what went wrong, the rest what followed from it
            raise OSError(None, "ffmpeg stopped: " + re.sub(r"^\[[^]]*\] *", "", lines[0]))

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


def record_game(agent: PlayingAgent, env, path: Path, seed: int | None = None, t_max: int = FULL_GAME_STEPS,
                fps: int = 15, scale: int = 2, greedy: bool = True, on_step=None, on_game=None) -> float:
    """Play one full game (every life) in env (made with render_mode="rgb_array"), greedily or
    with the agent's epsilon, write it to path, return the score. on_step and on_game (which says
    whether t_max cut the game) as games.play_episodes's.

    One video frame per agent step: 15 fps is real time for Atari's 60 Hz with 4 frames a step.
    The video is written beside path first and renamed to path once complete, so a recording that
    fails or is stopped (a full disk, Ctrl-C) leaves no file; a failed write raises OSError.
    """
    path = Path(path)
    partial = path.with_name(path.name + ".tmp")
    encoder = None

    def write_frame(score: float, step: int) -> None:
        nonlocal encoder
        frame = _annotate(env.render(), scale, f"score {score:.0f}   step {step}")
        if encoder is None:
            height, width = frame.shape[:2]
            with stops_held():  # a stop between ffmpeg's start and this line would leave it running, unknown to us
                encoder = Mp4Encoder(partial, width, height, fps)
        encoder.write(frame)
        if on_step is not None:
            on_step(score, step)

    try:
        [score] = play_episodes(env, agent, 1, greedy=greedy, t_max=t_max, seed=seed, full_games=True,
                                on_step=write_frame, on_game=on_game)
        if encoder is not None:
            encoder.close()
        os.replace(partial, path)
    except BaseException as exc:
        if encoder is not None:
            encoder.kill()
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            exc.filename = str(path)  # the file the user asked for, not its temporary
        raise
    return score
