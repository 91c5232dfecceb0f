"""Network heads: what the network outputs from the body's features, how it is trained, how Q-values are read from it."""
