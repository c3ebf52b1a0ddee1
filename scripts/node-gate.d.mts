/** Types of node-gate.mjs, which stays plain JavaScript so that an old Node can load it. */
export declare const NEEDED: string;
export declare function stripsTypes(version: string): boolean;
export declare function cachedNode(home?: string): string | undefined;
export declare function tooOldLine(version?: string, execPath?: string): string;
export declare function run(script: string, args?: string[]): Promise<void>;
