"""A progress bar over games for the commands that play them (dqn evaluate, dqn record), on stderr."""

from __future__ import annotations

import sys

from tqdm import tqdm


class GamesBar:
    """tqdm over games, with the agent step and score of the game in play beside it; its on_step and
    on_game go to games.play_episodes. enabled=False shows nothing."""

    def __init__(self, games: int, enabled: bool, unit: str = "game"):
        self.unit = unit
        self.last_game: tuple[float, int, bool] | None = None  # (score, agent steps, cut) of the last one ended
        # miniters=0: redrawn at most every mininterval seconds however few games end, so that a long
        # game shows its steps
        self.bar = tqdm(total=games, unit=unit, disable=not enabled, file=sys.stderr, dynamic_ncols=True,
                        miniters=0)

    def on_step(self, score: float, step: int) -> None:
        self.bar.set_postfix_str(f"this {self.unit}: agent step {step}, score {score:.0f}", refresh=False)
        self.bar.update(0)  # draws the postfix if mininterval has passed

    def on_game(self, score: float, steps: int, cut: bool) -> None:
        self.last_game = score, steps, cut
        self.bar.set_postfix_str(f"last {self.unit}: score {score:.0f} in {steps} agent steps", refresh=False)
        self.bar.update(1)

    def write(self, line: str) -> None:
        """A line on stdout, the bar cleared for it and drawn again below it."""
        self.bar.write(line, file=sys.stdout)

    def __enter__(self) -> GamesBar:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()
