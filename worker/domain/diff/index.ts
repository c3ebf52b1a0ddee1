export { type CertificateFacts, certificateExpiry, certificateFacts } from './certificate.ts';
export { type Coverage, coverageOf, type ScanSide } from './coverage.ts';
export { type PortSet, parsePortList, portSetHas } from './port-set.ts';
export {
  CLOCK_SCRIPTS,
  type CertificateChange,
  diffIsEmpty,
  diffIsQuiet,
  diffScans,
  type HostChange,
  type PortChange,
  type ScanDiff,
  type ScriptChange,
  type ServiceChange,
} from './scan-diff.ts';
export { type DiffRow, diffRows, flappingPlaces, notCheckedPlaces, serviceText } from './rows.ts';
export { diffSummary, scanChanges } from './summary.ts';
