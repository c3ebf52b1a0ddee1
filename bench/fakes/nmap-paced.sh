#!/bin/bash
# FAKE nmap (named as such), for the fan-in benchmark only: prints nmap-like lines at a set pace (15 lines, one
# every 0.2 s, ~3 s in all), writes a minimal XML report where -oX points (one host up, no open ports) and exits 0.
# It scans nothing. It waits with bash's `read -t` on a FIFO in its private cwd, so it forks one helper
# (mkfifo) instead of a `sleep` per line: the benchmark measures scangate, not process spawning.
mkfifo pace
exec 3<>pace
xml=""
prev=""
for arg in "$@"; do
  [ "$prev" = "-oX" ] && xml="$arg"
  prev="$arg"
done
echo "Starting Nmap 7.93 ( https://nmap.org ) [stand-in]"
i=1
while [ "$i" -le 14 ]; do
  read -r -t 0.2 -u 3 _ || true
  echo "Stats: 0:00:0$((i / 5)) elapsed; 0 hosts completed (1 up), 1 undergoing Connect Scan"
  i=$((i + 1))
done
echo "Nmap done: 1 IP address (1 host up) scanned in 3.00 seconds [stand-in]"
if [ -n "$xml" ]; then
  cat > "$xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<nmaprun scanner="nmap" args="stand-in" start="1764331200" version="7.93" xmloutputversion="1.05">
<host><status state="up" reason="user-set"/><address addr="127.0.0.1" addrtype="ipv4"/><ports><extraports state="closed" count="1"/></ports></host>
<runstats><finished time="1764331203" elapsed="3.00" summary="stand-in" exit="success"/><hosts up="1" down="0" total="1"/></runstats>
</nmaprun>
XML
fi
