// Types of build-ui.mjs (plain JS so that npm install can run it without tsx).
export function buildConsole(outDir?: string): Promise<string>;
