/** Access tokens revoked before their expiry, remembered by `jti` until they would have expired anyway. */
export interface TokenDenylist {
  add(jti: string, expiresAt: number, now: number): Promise<void>;
  has(jti: string, now: number): Promise<boolean>;
  close(): Promise<void>;
}
