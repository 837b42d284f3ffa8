/** Turning an Ajv error into a sentence that names the field; shared by Konsul's and Consul's faces. */

export interface ValidationIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** The JSON pointer as a field path: `/checks/0/ttl` → `.checks[0].ttl` ('' for the root). */
export function issuePath(issue: ValidationIssue): string {
  return issue.instancePath
    .split('/')
    .slice(1)
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part.replaceAll('~1', '/').replaceAll('~0', '~')}`))
    .join('');
}

/** `field: what is wrong`, naming the missing or unknown member where there is one. */
export function describeIssue(issue: ValidationIssue, field: string): string {
  const member = (name: unknown) => (field === '' ? String(name) : `${field}.${String(name)}`);
  const subject = field === '' ? 'the value' : field;
  switch (issue.keyword) {
    case 'required':
      return `${member(issue.params.missingProperty)}: is required`;
    case 'additionalProperties':
      return `${member(issue.params.additionalProperty)}: is not a known field`;
    case 'pattern':
      return `${subject}: has characters or a form that is not allowed (must match ${String(issue.params.pattern)})`;
    default:
      return `${subject}: ${issue.message ?? 'is not valid'}`;
  }
}
