import http from 'node:http';

/**
 * An HTTP request whose socket is bound to `from`, a loopback address such as 127.0.0.2 (the whole 127/8
 * is loopback on Linux), so one test drives many distinct clients as the server's `requestIP` sees them.
 * Bun's fetch cannot choose its source address; node:http's `localAddress` can. Answers a fetch Response.
 */
export function requestFrom(
  from: string,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        method: init.method ?? 'GET',
        headers: init.headers,
        localAddress: from,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('error', reject);
        res.on('end', () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) headers.append(k, one);
          }
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 0, headers }));
        });
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

/** A JSON POST from `from`, with the service's own Origin as a browser would send it. */
export function postFrom(from: string, baseUrl: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return requestFrom(from, `${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: baseUrl, ...headers },
    body: JSON.stringify(body),
  });
}
