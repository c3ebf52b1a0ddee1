#!/bin/sh
# FAKE nmap (named as such): ignores SIGTERM and leaves a child in its process group, to prove the runner
# escalates to SIGKILL and leaves no process behind. It prints its child's pid so the test can check it.
trap '' TERM
sleep 300 &
echo "child $!"
wait
