/**
 * Two synthetic finished scans of a /24 for the diff bench: 250 hosts up, 4 open ports each (1,000 open ports per
 * scan) out of the 1,000 probed, the rest closed as <extraports>. The newer scan closes one port in twenty, opens as
 * many elsewhere, and changes one version in ten. Deterministic.
 */
import type { Host, Report } from '../shared/nmap-xml/index.ts';
import type { ScanSide } from '../worker/domain/diff/index.ts';

function scan(id: string, newer: boolean): ScanSide {
  const hosts: Host[] = [];
  for (let h = 1; h <= 250; h++) {
    const ports = [22, 80, 443, 8000 + h].map((port, i) => {
      const moved = newer && (h * 4 + i) % 20 === 0;
      return {
        protocol: 'tcp' as const,
        port: moved ? port + 1 : port,
        state: 'open',
        reason: 'syn-ack',
        service: {
          name: 'svc',
          product: 'Product',
          version: newer && (h * 4 + i) % 10 === 1 ? '2.0' : '1.0',
          extraInfo: null,
          tunnel: null,
          method: 'probed',
          confidence: 10,
        },
        cpe: [],
        scripts: [{ id: 'banner', output: `banner of 10.0.0.${h}:${port}` }],
      };
    });
    hosts.push({
      status: 'up',
      reason: 'syn-ack',
      addresses: [{ addr: `10.0.0.${h}`, type: 'ipv4', vendor: null }],
      hostnames: [],
      ports,
      extraPorts: [{ state: 'closed', count: 996 }],
      hostScripts: [],
      os: [],
    });
  }
  const report: Report = {
    scanner: { version: '7.93', args: 'nmap -sT -sV 10.0.0.0/24', startedAt: null, endedAt: null },
    probes: [{ type: 'connect', protocol: 'tcp', ports: '1-1000,8000-8300' }],
    hosts,
    stats: {
      hostsUp: 250,
      hostsDown: 6,
      hostsTotal: 256,
      elapsedSec: 60,
      exit: 'success',
      summary: null,
      errorMessage: null,
    },
  };
  return { scanId: id, targets: ['10.0.0.0/24'], report };
}

export const BASE = scan('scan_base', false);
export const HEAD = scan('scan_head', true);
