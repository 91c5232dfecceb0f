"""The machine: what it computes fast (device, precision, threads), its RAM and disk, and writing files so
that a kill never leaves half of one."""
