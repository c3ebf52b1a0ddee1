#!/bin/sh
# FAKE nmap (named as such): a scanner that crashes at once (dies by SIGSEGV), for breaker and error-path
# tests: a crash is a runner-health failure, unlike nmap refusing its arguments (exit 1), which is neutral.
echo "fake nmap: simulated crash" >&2
kill -SEGV $$
