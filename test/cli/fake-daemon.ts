// A stand-in for virtwalld's API socket under a state root, for the CLI's tests: each request,
// its body read whole, goes to `answer`.
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';

export async function fakeDaemon(
  root: string,
  answer: (req: IncomingMessage, body: string, res: ServerResponse) => void,
): Promise<Server> {
  mkdirSync(join(root, 'run/virtwall'), { recursive: true });
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => answer(req, body, res));
  });
  await new Promise<void>((r) => server.listen(join(root, 'run/virtwall/virtwall-sock'), r));
  return server;
}
