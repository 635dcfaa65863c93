/** Who a token belongs to. */
export interface Identity {
  appid: number;
  uid: number;
  /**
   * The user wants notifications on desktop/web: such a connection is not "online" for
   * push (the phone still gets pushes). Undefined when no preference is known.
   */
  notificationOn?: boolean;
}

export const AuthErrorCode = {
  INVALID: 'ERR_AUTH_INVALID',
  UNAVAILABLE: 'ERR_AUTH_UNAVAILABLE',
} as const;

export class AuthError extends Error {
  override readonly name = 'AuthError';
  readonly code: (typeof AuthErrorCode)[keyof typeof AuthErrorCode];
  constructor(code: AuthError['code'], message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

export interface Authenticator {
  /** Resolves with the identity, or rejects with an AuthError. */
  authenticate(token: string): Promise<Identity>;
  /** Stores a client's UNREAD_COUNT where the deployment keeps user state (no-op for JWT). */
  setUnread(appid: number, uid: number, count: number): Promise<void>;
  close(): Promise<void>;
}
