/**
 * The records of the zone apex: SOA (RFC 1035 §3.3.13) and NS, and the SOA that negative
 * answers carry in their authority section (RFC 2308 §3). The SOA serial is the catalog index,
 * so secondaries and caches can tell when the catalog moved.
 */
import type { Catalog } from '../catalog/catalog.js';
import { addressRecord, nsRecord, QUESTION_NAME, soaRecord, type SoaFields } from './records.js';
import { encodeName } from './wire.js';

const REFRESH_SECONDS = 3600;
const RETRY_SECONDS = 600;
const EXPIRE_SECONDS = 86400;

export class Zone {
  readonly nsName: string;
  private readonly apexName: Buffer;
  private readonly fields: Omit<SoaFields, 'serial'>;
  private soaIndex = -1;
  private soaAuthority: Buffer = Buffer.alloc(0);
  private soaAnswer: Buffer = Buffer.alloc(0);
  /** NS at the apex, owner = the question name. */
  readonly nsAnswer: Buffer;
  /** A/AAAA of ns.<domain>, owned by that name (additional section of NS answers). */
  readonly nsGlue: Buffer | undefined;
  /** A/AAAA of ns.<domain>, owner = the question name (for queries of ns.<domain> itself). */
  readonly nsAddressAnswer: Buffer | undefined;

  constructor(
    private readonly catalog: Catalog,
    domain: string,
    private readonly ttl: number,
    /** The server's own address when it listens on one (not a wildcard): NS glue. */
    nsOctets: Buffer | undefined,
  ) {
    const apex = domain.toLowerCase();
    this.apexName = encodeName(apex);
    this.nsName = `ns.${apex}`;
    this.fields = {
      mname: this.nsName,
      rname: `hostmaster.${apex}`,
      refresh: REFRESH_SECONDS,
      retry: RETRY_SECONDS,
      expire: EXPIRE_SECONDS,
      // Negative answers are cached no longer than positive ones.
      minimum: ttl,
    };
    this.nsAnswer = nsRecord(QUESTION_NAME, ttl, this.nsName);
    this.nsGlue = nsOctets === undefined ? undefined : addressRecord(encodeName(this.nsName), ttl, nsOctets);
    this.nsAddressAnswer = nsOctets === undefined ? undefined : addressRecord(QUESTION_NAME, ttl, nsOctets);
  }

  /** Length of the glue's address (4 or 16), or 0 without glue. */
  get nsFamilyLength(): number {
    return this.nsAddressAnswer === undefined ? 0 : this.nsAddressAnswer.length - 12;
  }

  /** The SOA owned by the apex name, for the authority section of negative answers. */
  soaForAuthority(): Buffer {
    this.refresh();
    return this.soaAuthority;
  }

  /** The SOA owned by the question name, for SOA queries of the apex. */
  soaForAnswer(): Buffer {
    this.refresh();
    return this.soaAnswer;
  }

  private refresh(): void {
    const index = this.catalog.index;
    if (index === this.soaIndex) return;
    const fields: SoaFields = { ...this.fields, serial: index };
    this.soaAuthority = soaRecord(this.apexName, this.ttl, fields);
    this.soaAnswer = soaRecord(QUESTION_NAME, this.ttl, fields);
    this.soaIndex = index;
  }
}
