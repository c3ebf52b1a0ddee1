#!/bin/sh
# FAKE nmap (named as such): a broken scanner that fails at once, for breaker and error-path tests.
echo "fake nmap: simulated failure" >&2
exit 1
