#!/bin/bash
# FAKE nmap (named as such): ignores the scan it was given and tries to reach 127.0.0.2 and ::1 (outside a runner
# whose only network is 127.0.0.1/32) on the port given with -p, over TCP and UDP, as an NSE escape or a parsing
# blind spot would. The kernel fence must drop every one of these packets. Port 1 makes it wait
# (for the cancel and kill -9 tests) until it is killed.
port=
prev=
for a in "$@"; do
  [ "$prev" = -p ] && port=$a
  prev=$a
done
if [ "$port" = 1 ]; then
  echo "holding"
  exec sleep 300
fi
for host in 127.0.0.2 ::1; do
  if timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then echo "tcp $host reached"; else echo "tcp $host blocked"; fi
  if bash -c "echo escape > /dev/udp/$host/$port" 2>/dev/null; then echo "udp $host sent"; else echo "udp $host blocked"; fi
done
