"""Each env family's envs: dqn.envs.families.<module>.make_env(config, evaluation, render_mode), by the
module names of envs/registry.py's FAMILY_KINDS."""
