/**
 * The work memory of table builds, lent to one build at a time and kept between builds.
 *
 * A ring build needs work arrays as large as its finished points and more (the unsorted points
 * and the counting sort's bucket counts: 1 MiB at the default 65,536 points), a Maglev
 * build a slot array as large as its table. Allocated afresh per build, that memory counts
 * toward the full collections V8 schedules: with the point hashes boxed as well (hash.ts),
 * 600 builds under weight churn ran 15 to 20 mark-compacts, pausing the loop for up to 7 ms,
 * against 10 to 11 with both gone. Lent from here, it is allocated once.
 *
 * Sliced builds run one at a time, so the buffer is lent to at most one build; a build that
 * asks while it is out (an inline build between two slices of a sliced one) gets memory of its
 * own. Only buffers up to SCRATCH_KEEP_BYTES are kept: a larger ring (config.ringHash.maxRingSize
 * above about 458,000 points) allocates its work memory per build, as before.
 */

/** The largest work buffer kept between builds: rings of up to about 458,000 points (7× the default maxRingSize). */
export const SCRATCH_KEEP_BYTES = 4 * 1024 * 1024;

export class ScratchBuffer {
  private kept: ArrayBuffer | undefined = undefined;
  private lent = false;

  constructor(private readonly keepBytes: number = SCRATCH_KEEP_BYTES) {}

  /** Bytes held between builds. */
  get bytes(): number {
    return this.kept?.byteLength ?? 0;
  }

  /**
   * At least `bytes` bytes of unspecified content: the kept buffer when it is free and large
   * enough, otherwise a new one. Give it back with `give` when the build is done.
   */
  take(bytes: number): ArrayBuffer {
    const kept = this.kept;
    if (!this.lent && kept !== undefined && kept.byteLength >= bytes) {
      this.lent = true;
      return kept;
    }
    return new ArrayBuffer(bytes);
  }

  /** Takes a buffer back; it is kept when it is larger than the kept one and small enough to keep. */
  give(buffer: ArrayBuffer): void {
    if (buffer === this.kept) {
      this.lent = false;
      return;
    }
    if (buffer.byteLength > this.keepBytes) return;
    if (this.kept !== undefined && (this.lent || this.kept.byteLength >= buffer.byteLength)) return;
    this.kept = buffer;
  }
}
