/**
 * Real nmap 7.93 XML of a loopback listener as it changes (test/fixtures/nmap/diff/README.md), parsed. For tests
 * and the bench; Vite's `?raw` inlines the files, so this works inside workerd too.
 */
import up from '../../../test/fixtures/nmap/diff/1-up.xml?raw';
import down from '../../../test/fixtures/nmap/diff/2-down.xml?raw';
import moved from '../../../test/fixtures/nmap/diff/3-moved.xml?raw';
import newBanner from '../../../test/fixtures/nmap/diff/4-newbanner.xml?raw';
import otherPorts from '../../../test/fixtures/nmap/diff/5-otherports.xml?raw';
import udpSilent from '../../../test/fixtures/nmap/diff/6-udp-silent.xml?raw';
import udpGone from '../../../test/fixtures/nmap/diff/7-udp-gone.xml?raw';
import { parseNmapXml, type Report } from '../../../shared/nmap-xml/index.ts';
import type { ScanSide } from './coverage.ts';

export const DIFF_XML = { up, down, moved, newBanner, otherPorts, udpSilent, udpGone } as const;

export function reportOf(xml: string): Report {
  const parsed = parseNmapXml(xml);
  if (!parsed.ok) throw new Error(parsed.problem);
  return parsed.report;
}

export function side(name: keyof typeof DIFF_XML, targets: string[] = ['127.0.0.1']): ScanSide {
  return { scanId: `scan_${name}`, targets, report: reportOf(DIFF_XML[name]) };
}
