"""Playing a trained agent: evaluation protocols, whole games, the homework's score, videos, diagnostics."""
