"""The machine: what it computes fast (device, precision, threads), and its RAM and disk."""
