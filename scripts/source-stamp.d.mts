// Types of source-stamp.mjs for the TypeScript that imports it (src/util/code-version.ts).
export declare const PACKAGE_ROOT: string;
export declare const DIST: string;
export declare const STAMP_FILE: string;
export declare function sourceStamp(): string;
export declare function builtStamp(): string | undefined;
export declare function builtFromCurrentSources(): boolean;
