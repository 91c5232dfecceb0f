"""The agent's parts: the Q-network and its bodies, the learner (optimizer, one update per batch), the
actor (envs, batched acting, exploration), the TD losses, and loading a trained agent from its files."""
