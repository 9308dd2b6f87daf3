/** Carries "this changed" (a session id, an API key id) between the instances that share a backend. */
export interface InvalidationBus {
  publish(id: string): Promise<void>;
  /**
   * `handler(id)` on every published id; `handler(null)` when messages may
   * have been missed (a reconnect), meaning "drop everything".
   */
  subscribe(handler: (id: string | null) => void): Promise<void>;
  close(): Promise<void>;
}
