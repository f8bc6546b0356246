/** 32-bit Mersenne Twister, as std::mt19937 and torch's CPU generator (SD1_SPEC §6.1). */
export class MT19937 {
  private readonly mt = new Uint32Array(624);
  private index = 624;

  constructor(seed32 = 5489) {
    this.seed(seed32);
  }

  seed(seed32: number): void {
    const mt = this.mt;
    mt[0] = seed32 >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.index = 624;
  }

  /** Next tempered 32-bit output (unsigned). */
  next(): number {
    if (this.index >= 624) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < 624; i++) {
      const y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff);
      mt[i] = mt[(i + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }
}
