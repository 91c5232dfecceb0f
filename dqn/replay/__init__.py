"""Experience replay: frames stored once as bytes, n-step returns, proportional prioritized sampling."""
