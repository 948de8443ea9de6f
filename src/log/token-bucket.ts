// The one rate limiter for records sent on to the console: at most `burst` at once, refilled continuously at
// `perMinute`. Takes the time from the caller's clock, so tests move it by hand.

export interface TokenBucketOptions {
  burst: number;
  perMinute: number;
  now: () => number;
}

export class TokenBucket {
  private tokens: number;
  private lastRefill: number;

  constructor(private readonly options: TokenBucketOptions) {
    this.tokens = options.burst;
    this.lastRefill = options.now();
  }

  /** True when a token was taken; false while the bucket is empty. */
  take(): boolean {
    const now = this.options.now();
    const { burst, perMinute } = this.options;
    this.tokens = Math.min(burst, this.tokens + ((now - this.lastRefill) / 60_000) * perMinute);
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
