export { openPorts, parseNmapXml, type ParseResult } from './parse.ts';
export {
  ReportSchema,
  type Host,
  type Probe,
  type Port,
  type Report,
  type ScriptResult,
  type Service,
} from './report.ts';
