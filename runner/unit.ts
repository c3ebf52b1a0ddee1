/**
 * The systemd unit `scangate-runner install` writes: runner/scangate-runner.service, embedded here so the bundle
 * and the single executable carry it (runner/unit.test.ts keeps the two identical), and the few lines an install
 * fills in. Pure: no I/O.
 */
export const SERVICE_UNIT = `# scangate runner: dials out to the scangate edge and runs the nmap scans it approves.
# Install: see README.md, "Installing the runner on a lab host".
[Unit]
Description=scangate runner (edge-approved nmap scans)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=scangate
Group=scangate
# SCANGATE_SERVER, SCANGATE_TOKEN_FILE, SCANGATE_NETWORKS, ... (see scangate-runner --help)
EnvironmentFile=/etc/scangate/runner.env
# A 1 MiB young generation keeps the daemon under ~75 MiB while scans stream (Node's default grows it to 16 MiB).
ExecStart=/usr/bin/node --max-semi-space-size=1 /opt/scangate/scangate-runner.mjs run
Restart=on-failure
RestartSec=5
# 2 = bad configuration, 3 = token refused or revoked, 4 = protocol refused: a person must act, not a loop.
RestartPreventExitStatus=2 3 4
# SIGTERM lets running scans finish within --grace (default 30 s); leave room for the flush.
TimeoutStopSec=45
KillMode=mixed

# Hardening. No privileges unless the admin opts in below.
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
# Raw-socket scans (-sS, -sU, -O, --traceroute, ICMP pings): uncomment both lines to grant them.
#CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN
#AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
# AF_PACKET and AF_NETLINK are what nmap's raw scans and interface discovery use.
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK AF_PACKET
UMask=0077
LimitCORE=0
TasksMax=256
# The kernel fence around every scan (README, "The kernel fence"): with the CAP_NET_ADMIN lines above and nftables,
# uncomment both (here, after ProtectControlGroups=yes, so they win): the runner then puts each nmap in a cgroup of its
# own, under the runner's. doctor's fence row says whether it works.
#Delegate=yes
#ProtectControlGroups=no

[Install]
WantedBy=multi-user.target
`;

export interface UnitSettings {
  /** The system user (and group) the service runs as. */
  user: string;
  environmentFile: string;
  /** The whole ExecStart command line (program, options, `run`). */
  execStart: string;
  /** Grant CAP_NET_RAW and CAP_NET_ADMIN (raw scans): the admin's explicit opt-in, the unit's commented lines. */
  rawScans: boolean;
}

/** The unit with this install's user, env file and command; every hardening line as shipped. */
export function renderUnit(settings: UnitSettings, template: string = SERVICE_UNIT): string {
  const line = (key: string, value: string) => (text: string) => {
    const pattern = new RegExp(`^${key}=.*$`, 'm');
    if (!pattern.test(text)) throw new Error(`the unit template has no ${key}= line`);
    return text.replace(pattern, `${key}=${value}`);
  };
  let unit = [
    line('User', settings.user),
    line('Group', settings.user),
    line('EnvironmentFile', settings.environmentFile),
    line('ExecStart', settings.execStart),
  ].reduce((text, set) => set(text), template);
  if (settings.rawScans) {
    unit = unit
      .replace(/^CapabilityBoundingSet=\n/m, '')
      .replace(/^AmbientCapabilities=\n/m, '')
      .replace(/^#(CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN)$/m, '$1')
      .replace(/^#(AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN)$/m, '$1');
  }
  return unit;
}
