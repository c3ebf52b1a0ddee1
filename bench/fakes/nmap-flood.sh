#!/bin/sh
# FAKE nmap (named as such), for the relay-throughput benchmark only: ignores its arguments and prints
# 1,000,000 bytes of text (15,625 lines of 64 bytes) as fast as it can, then exits 0. Scans nothing.
yes '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde' | head -c 1000000
