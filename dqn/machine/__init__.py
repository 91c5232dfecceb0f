"""The machine: what it computes fast (device, precision, threads), its RAM and disk, writing files so that a
kill never leaves half of one, and Ctrl-C and SIGTERM as clean stops."""
