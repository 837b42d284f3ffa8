/**
 * Lays out a response within a size limit. Records are only ever dropped whole, from the end:
 * additional records first, then authority, then answers from the last. Answers are kept in
 * the strategy's order, so a truncated UDP answer still leads with the best instances.
 *
 * TC (RFC 1035 §4.1.1) is set only when answer records had to be left out. RFC 2181 §9: it
 * "should not be set merely because some extra information could have been included if there
 * were room"; additional address records that do not fit are left for the client to look up
 * (every SRV target name is resolvable on its own). The OPT record always stays: RFC 6891 §7
 * wants it in truncated responses too, so the client learns the server speaks EDNS.
 *
 * dns2 3.0.0's own UDP cut drops every record when the answer is too big; this replaces it.
 */
import { FLAG_TC, HEADER_SIZE } from './wire.js';

/** The sections of a response, filled by the responder and reused between queries. */
export class ResponseSections {
  readonly answers: Buffer[] = [];
  readonly authority: Buffer[] = [];
  readonly additional: Buffer[] = [];

  clear(): void {
    this.answers.length = 0;
    this.authority.length = 0;
    this.additional.length = 0;
  }
}

export interface Laid {
  message: Buffer;
  truncated: boolean;
}

/**
 * Writes header, the query's question (copied byte for byte from `query`), the sections that
 * fit in `limit`, and `opt` when given. `flags` is the header's second word without TC. The
 * result goes into `into` when given (a caller answering message after message reuses one), so
 * the response buffer is the only allocation.
 */
export function layOut(
  query: Buffer,
  questionEnd: number,
  id: number,
  flags: number,
  sections: ResponseSections,
  opt: Buffer | null,
  limit: number,
  into?: Laid,
): Laid {
  const { answers, authority, additional } = sections;
  const fixed = questionEnd + (opt === null ? 0 : opt.length);
  let budget = limit - fixed;
  let answerCount = 0;
  let size = fixed;
  while (answerCount < answers.length && answers[answerCount].length <= budget) {
    budget -= answers[answerCount].length;
    size += answers[answerCount].length;
    answerCount++;
  }
  const truncated = answerCount < answers.length;
  let authorityCount = 0;
  let additionalCount = 0;
  if (!truncated) {
    // Each record Konsul puts in these sections is an RRset of its own (the SOA; one address per
    // SRV target), so dropping whole records never leaves a partial RRset behind (RFC 2181 §9).
    while (authorityCount < authority.length && authority[authorityCount].length <= budget) {
      budget -= authority[authorityCount].length;
      size += authority[authorityCount].length;
      authorityCount++;
    }
    if (authorityCount === authority.length) {
      while (additionalCount < additional.length && additional[additionalCount].length <= budget) {
        budget -= additional[additionalCount].length;
        size += additional[additionalCount].length;
        additionalCount++;
      }
    }
  }
  const message = Buffer.allocUnsafe(size);
  message.writeUInt16BE(id, 0);
  message.writeUInt16BE(truncated ? flags | FLAG_TC : flags, 2);
  message.writeUInt16BE(1, 4);
  message.writeUInt16BE(answerCount, 6);
  message.writeUInt16BE(authorityCount, 8);
  message.writeUInt16BE(additionalCount + (opt === null ? 0 : 1), 10);
  copyBytes(query, HEADER_SIZE, questionEnd, message, HEADER_SIZE);
  let offset = questionEnd;
  for (let i = 0; i < answerCount; i++) offset = copyBytes(answers[i], 0, answers[i].length, message, offset);
  for (let i = 0; i < authorityCount; i++) offset = copyBytes(authority[i], 0, authority[i].length, message, offset);
  for (let i = 0; i < additionalCount; i++) offset = copyBytes(additional[i], 0, additional[i].length, message, offset);
  if (opt !== null) copyBytes(opt, 0, opt.length, message, offset);
  if (into === undefined) return { message, truncated };
  into.message = message;
  into.truncated = truncated;
  return into;
}

/** Below this many bytes a loop copies faster than Buffer#copy's native call (records are 16 to ~60 bytes). */
const LOOP_COPY_BELOW = 64;

/** Copies `source[start, end)` to `target` at `offset`; returns the offset after it. */
function copyBytes(source: Buffer, start: number, end: number, target: Buffer, offset: number): number {
  if (end - start >= LOOP_COPY_BELOW) return offset + source.copy(target, offset, start, end);
  for (let i = start; i < end; i++) target[offset++] = source[i];
  return offset;
}

/** A header-only reply (FORMERR, NOTIMP for an unknown opcode): no question is echoed, as none was trusted. */
export function headerOnly(id: number, flags: number): Buffer {
  const message = Buffer.alloc(HEADER_SIZE);
  message.writeUInt16BE(id, 0);
  message.writeUInt16BE(flags, 2);
  return message;
}
