"""Distributed training on Ray (Ape-X): actor and replay processes around the learner."""
