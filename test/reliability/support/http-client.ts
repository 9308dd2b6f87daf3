/** How one request ended: an answer, no answer within its bound, or a failed connection. */
export type Outcome =
  | { kind: 'response'; status: number; contentType: string; body: unknown }
  | { kind: 'timeout' }
  | { kind: 'network-error'; code: string };

export interface CallOptions {
  body?: unknown;
  /** Sent as is when a string, else as JSON. */
  contentType?: string;
  headers?: Record<string, string>;
  /** The longest the whole exchange may take, body included; past it the outcome is `timeout`. */
  timeoutMs: number;
}

/** One HTTP exchange with a bound on its duration; never throws. The body is parsed when it is JSON. */
export async function call(
  base: string,
  method: string,
  path: string,
  options: CallOptions,
): Promise<Outcome> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] = options.contentType ?? 'application/json';
  }
  try {
    const response = await fetch(`${base}${path}`, {
      method,
      headers,
      body,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const contentType = response.headers.get('content-type') ?? '';
    const text = await response.text();
    return {
      kind: 'response',
      status: response.status,
      contentType,
      body: contentType.startsWith('application/json') && text !== '' ? JSON.parse(text) : text,
    };
  } catch (error) {
    if (error instanceof DOMException && error.name === 'TimeoutError') return { kind: 'timeout' };
    const cause = (error as { cause?: { code?: string } }).cause;
    return { kind: 'network-error', code: cause?.code ?? String(error) };
  }
}

/** Whether `outcome` is an answer with this status and the API's error shape `{ error: { code, message } }`. */
export function isJsonError(outcome: Outcome, status: number, code?: string): boolean {
  if (outcome.kind !== 'response' || outcome.status !== status) return false;
  const error = (outcome.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return (
    typeof error?.code === 'string' &&
    typeof error.message === 'string' &&
    (code === undefined || error.code === code)
  );
}

/**
 * Runs `task(0)` … `task(count - 1)` with at most `concurrency` in flight and
 * resolves with their results in index order.
 */
export async function runBounded<T>(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

/** Outcomes counted by kind and status, e.g. `{ '200': 950, '503': 50, timeout: 0 }`, for failure messages. */
export function tally(outcomes: readonly Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const outcome of outcomes) {
    const key =
      outcome.kind === 'response'
        ? String(outcome.status)
        : outcome.kind === 'timeout'
          ? 'timeout'
          : `network-error ${outcome.code}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
