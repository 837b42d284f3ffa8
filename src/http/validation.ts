import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchema, FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';

/**
 * Bodies are validated strictly: no type coercion and no silent removal, so `"port": "80"` or a
 * misspelt field is a 400 naming it. Query strings and path params are text by nature, so they
 * are coerced (`limit=3` → 3, a single `tag` → an array).
 */
function makeAjv(options: Options): Ajv {
  const ajv = new Ajv({ allErrors: false, useDefaults: true, removeAdditional: false, strict: false, ...options });
  (addFormats as unknown as (ajv: Ajv) => void)(ajv);
  return ajv;
}

const bodyAjv = makeAjv({ coerceTypes: false });
const textAjv = makeAjv({ coerceTypes: 'array' });

interface Validator {
  (data: unknown): boolean;
  errors?: FastifySchemaValidationError[] | null;
}

export const validatorCompiler: FastifySchemaCompiler<FastifySchema> = ({ schema, httpPart }) => {
  if (httpPart === 'body') return bodyAjv.compile(schema as object);
  const validate = textAjv.compile(schema as object);
  const numeric = numericFields(schema);
  if (numeric.length === 0) return validate;
  // Ajv coerces any string JavaScript's Number() accepts, so `limit=0x10`, `1e1` or ` 16` would
  // pass as 16; a query number must be written in plain decimal digits.
  const checked: Validator = (data) => {
    const field = numeric.find((name) => !isDecimal((data as Record<string, unknown> | null)?.[name]));
    if (field !== undefined) {
      checked.errors = [
        {
          instancePath: `/${field}`,
          schemaPath: `#/properties/${field}/type`,
          keyword: 'type',
          message: 'must be a whole number in decimal digits',
          params: { type: 'integer' },
        },
      ];
      return false;
    }
    const valid = validate(data);
    checked.errors = validate.errors ?? null;
    return valid;
  };
  return checked;
};

function numericFields(schema: unknown): string[] {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  return Object.keys(properties).filter((name) => properties[name].type === 'integer');
}

/** Absent, or digits only (an array from a repeated parameter is judged element by element). */
function isDecimal(value: unknown): boolean {
  if (value === undefined || typeof value === 'number') return true;
  if (Array.isArray(value)) return value.every(isDecimal);
  return typeof value === 'string' && /^[0-9]{1,16}$/.test(value);
}
