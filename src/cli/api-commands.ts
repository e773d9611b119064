// `ganf api`: runs the HTTP API (src/api) until SIGINT/SIGTERM.
import { loadApiConfig, parseApiConfig, type ApiConfig } from '../api/config.ts';
import { createApiService } from '../api/server.ts';

export interface ApiCommandOptions {
  config?: string;
  host?: string;
  port?: number;
  models?: string;
  data?: string;
}

export async function runApi(o: ApiCommandOptions): Promise<void> {
  const base: ApiConfig = o.config ? loadApiConfig(o.config) : parseApiConfig({});
  const config = parseApiConfig({
    ...base,
    ...(o.host !== undefined ? { host: o.host } : {}),
    ...(o.port !== undefined ? { port: o.port } : {}),
    ...(o.models !== undefined ? { modelsRoot: o.models } : {}),
    ...(o.data !== undefined ? { dataDir: o.data } : {}),
  });
  const service = await createApiService(config);
  const url = await service.listen();
  const active = service.deps.registry.activeVersion();
  process.stderr.write(`ganf api listening on ${url} (docs ${url}/docs; model ${active ?? 'none active'})\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stderr.write('ganf api: shutting down\n');
  await service.close();
}
