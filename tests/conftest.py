import sys
from pathlib import Path

# The course's helper modules (utils, replay_buffer, ...) sit at the repo root, beside dqn/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
