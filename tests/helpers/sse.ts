/** One server-sent event as a client sees it. */
export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
  /** When it arrived (Date.now()). */
  at: number;
}

/**
 * A reader of `text/event-stream` over real HTTP (fetch), as EventSource parses it: `event:`, `data:`, `id:`
 * fields, a blank line ends an event, `:` lines are comments (the heartbeat). Tests wait on what arrived
 * (`next`, `comment`) with a deadline instead of sleeping.
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  /** The last `id:` seen, as EventSource keeps it for Last-Event-ID. */
  lastEventId: string | null = null;
  retry: number | null = null;
  ended = false;
  #waiters = new Set<() => void>();
  readonly #abort: AbortController;

  private constructor(
    readonly response: Response,
    abort: AbortController,
  ) {
    this.#abort = abort;
    if (response.ok && response.body) void this.#read(response.body);
  }

  /** GETs `url` (the stream or its error answer); `headers` carry the cookie, token or Last-Event-ID. */
  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const abort = new AbortController();
    const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
    return new SseClient(response, abort);
  }

  /** Drops the connection, as a closed tab or a cut network does. */
  close(): void {
    this.#abort.abort();
  }

  /** The first event from `from` on (index into `events`) that `match` accepts, or a rejection after `timeoutMs`. */
  next(match: (e: SseEvent) => boolean, timeoutMs = 10_000, from = 0): Promise<SseEvent> {
    return this.#until(
      () => this.events.slice(from).find(match) ?? null,
      timeoutMs,
      () => `no matching event; got ${JSON.stringify(this.events)}`,
    );
  }

  /** Resolves when a comment line arrives (the heartbeat is `: ping`). */
  comment(text: string, timeoutMs = 10_000): Promise<string> {
    return this.#until(
      () => this.comments.find((c) => c === text) ?? null,
      timeoutMs,
      () => `no "${text}" comment; got ${JSON.stringify(this.comments)}`,
    );
  }

  /** Resolves when the server ends the stream. */
  end(timeoutMs = 10_000): Promise<true> {
    return this.#until(
      () => (this.ended ? true : null),
      timeoutMs,
      () => 'the stream is still open',
    );
  }

  #until<T>(probe: () => T | null, timeoutMs: number, describe: () => string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = probe();
        if (found === null) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(describe()));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  async #read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    let event = { id: null as string | null, event: 'message', data: [] as string[], hasId: false };
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value: chunk } = await reader.read();
        if (done) break;
        buffer += decoder.decode(chunk, { stream: true });
        for (let nl = buffer.search(/\r\n|\n|\r/); nl >= 0; nl = buffer.search(/\r\n|\n|\r/)) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1));
          if (line === '') {
            if (event.hasId) this.lastEventId = event.id;
            if (event.data.length > 0) this.events.push({ id: event.id, event: event.event, data: event.data.join('\n'), at: Date.now() });
            event = { id: null, event: 'message', data: [], hasId: false };
            continue;
          }
          if (line.startsWith(':')) {
            this.comments.push(line.slice(1).trim());
            continue;
          }
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') event.event = value;
          else if (field === 'data') event.data.push(value);
          else if (field === 'id') {
            event.id = value;
            event.hasId = true;
          } else if (field === 'retry') this.retry = Number(value);
        }
        this.#wake();
      }
    } catch {
      // Aborted by close(), or the connection dropped.
    } finally {
      this.ended = true;
      this.#wake();
    }
  }
}
