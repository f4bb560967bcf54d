-- The JSON Schema subset validator (validate_json_schema / private.json_schema_violation and
-- private.json_schema_problem): each supported keyword accepts what it should and refuses what it should
-- with the JSON path of the failure; nested objects and arrays; boolean schemas; the first error in key and
-- index order; and schemas outside the subset (unknown keywords and types, bad values, invalid patterns)
-- refused with 22023 naming their place in the schema.
begin;
\ir helpers/test_helpers.psql
select plan(40);

create function pg_temp.v(schema text, value text) returns text language sql as $$ select validate_json_schema(schema::jsonb, value::jsonb) $$;

-- type
select is(pg_temp.v('{"type": "string"}', '"x"'), null, 'a string is a string');
select is(pg_temp.v('{"type": "string"}', '5'), '$: expected string, got number', 'a number is not a string');
select is(pg_temp.v('{"type": "integer"}', '5.0'), null, '5.0 is an integer (no fractional part)');
select is(pg_temp.v('{"type": "integer"}', '5.5'), '$: expected integer, got number', '5.5 is not an integer');
select is(pg_temp.v('{"type": "number"}', '7'), null, 'an integer is a number');
select is(pg_temp.v('{"type": ["string", "null"]}', 'null'), null, 'a type list accepts any of its types');
select is(pg_temp.v('{"type": ["string", "null"]}', 'true'), '$: expected string or null, got boolean', 'and names them all when none matches');
-- objects
select is(pg_temp.v('{"type": "object", "properties": {"address": {"type": "object", "properties": {"city": {"type": "string"}}}}}',
                    '{"address": {"city": 12}}'),
  '$.address.city: expected string, got number', 'a nested property failing names its path');
select is(pg_temp.v('{"required": ["name", "age"]}', '{"age": 3}'), '$: missing required property "name"', 'a missing required property');
select is(pg_temp.v('{"properties": {"a": {"type": "string"}}, "additionalProperties": false}', '{"a": "x", "zz": 1}'),
  '$: property "zz" is not allowed (additionalProperties is false)', 'additionalProperties false refuses other keys');
select is(pg_temp.v('{"additionalProperties": {"type": "integer"}}', '{"x": 1, "y": "two"}'), '$.y: expected integer, got string',
  'additionalProperties as a schema checks the other keys');
select is(pg_temp.v('{"properties": {"first name": {"minLength": 2}}}', '{"first name": "A"}'),
  '$["first name"]: must be at least 2 characters, got 1', 'a key that is not an identifier is quoted in the path');
select is(pg_temp.v('{"properties": {"a": {"type": "string"}, "b": {"type": "string"}}}', '{"b": 1, "a": 2}'),
  '$.a: expected string, got number', 'the first error in key order is reported');
-- arrays
select is(pg_temp.v('{"type": "array", "items": {"type": "object", "properties": {"tag": {"maxLength": 3}}}}', '[{"tag": "ok"}, {"tag": "toolong"}]'),
  '$[1].tag: must be at most 3 characters, got 7', 'an item failing names its index and path');
select is(pg_temp.v('{"minItems": 2}', '[1]'), '$: must have at least 2 items, got 1', 'minItems');
select is(pg_temp.v('{"maxItems": 1}', '[1, 2]'), '$: must have at most 1 items, got 2', 'maxItems');
-- values
select is(pg_temp.v('{"enum": ["red", "green"]}', '"blue"'), '$: must be one of "red", "green", got "blue"', 'enum');
select is(pg_temp.v('{"enum": [1, 2]}', '2.0'), null, 'enum compares JSON values (2.0 = 2)');
select is(pg_temp.v('{"const": {"v": 1}}', '{"v": 2}'), '$: must be {"v": 1}', 'const');
select is(pg_temp.v('{"minimum": 0, "maximum": 10}', '11'), '$: must be at most 10, got 11', 'maximum');
select is(pg_temp.v('{"minimum": 0, "maximum": 10}', '-1'), '$: must be at least 0, got -1', 'minimum');
select is(pg_temp.v('{"exclusiveMinimum": 0}', '0'), '$: must be more than 0, got 0', 'exclusiveMinimum');
select is(pg_temp.v('{"minLength": 2, "maxLength": 4}', '"ñandú"'), '$: must be at most 4 characters, got 5', 'lengths count characters, not bytes');
select is(pg_temp.v('{"pattern": "^[A-Z]{2}[0-9]+$"}', '"ab12"'), '$: does not match the pattern "^[A-Z]{2}[0-9]+$"', 'pattern');
select is(pg_temp.v('{"pattern": "^[A-Z]{2}[0-9]+$"}', '"AB12"'), null, 'a matching string passes');
select is(pg_temp.v('{"type": "string", "minimum": 5}', '"x"'), null, 'number keywords ignore strings (as JSON Schema does)');
-- boolean schemas and annotations
select is(pg_temp.v('{"properties": {"secret": false}}', '{"secret": 1}'), '$.secret: no value is allowed here (schema false)', 'a false schema refuses');
select is(pg_temp.v('true', '{"anything": [1, 2]}'), null, 'a true schema accepts everything');
select is(pg_temp.v('{"title": "T", "description": "d", "default": 1, "$schema": "https://json-schema.org/draft/2020-12/schema"}', '1'), null,
  'annotations are allowed and ignored');
select is(pg_temp.v(
  '{"type": "object", "required": ["user"], "properties": {"user": {"type": "object", "required": ["langs"], "properties": {"langs": {"type": "array", "items": {"enum": ["en", "pt"]}, "minItems": 1}}}}}',
  '{"user": {"langs": ["en", "pt"]}}'), null, 'a conforming nested document passes');

-- schemas outside the subset
select throws_ok($$ select pg_temp.v('{"format": "email"}', '"x"') $$, '22023',
  'schema: keyword "format" is not supported (supported: type, properties, required, additionalProperties, items, enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, minItems, maxItems, pattern)',
  'an unsupported keyword is refused, not silently ignored');
select throws_ok($$ select pg_temp.v('{"properties": {"age": {"type": "integr"}}}', '{}') $$, '22023',
  'schema.properties.age.type: unknown type "integr" (types: object, array, string, number, integer, boolean, null)', 'an unknown type names its place');
select throws_ok($$ select pg_temp.v('{"properties": {"x": {"minimum": "3"}}}', '{}') $$, '22023',
  'schema.properties.x.minimum: must be a number', 'a bound that is not a number');
select throws_ok($$ select pg_temp.v('{"maxLength": -1}', '"x"') $$, '22023', 'schema.maxLength: must be a non-negative whole number', 'a negative length');
select throws_ok($$ select pg_temp.v('{"required": "name"}', '{}') $$, '22023', 'schema.required: must be an array of property names', 'required not a list');
select throws_like($$ select pg_temp.v('{"pattern": "(["}', '"x"') $$, 'schema.pattern: is not a valid regular expression (%', 'an invalid pattern');
select throws_ok($$ select pg_temp.v('{"items": [{"type": "string"}]}', '[]') $$, '22023',
  'schema.items: the array (tuple) form is not supported; give one schema', 'tuple items are refused');
select throws_ok($$ select pg_temp.v('{"enum": []}', '1') $$, '22023', 'schema.enum: must be a non-empty array of values', 'an empty enum');
select throws_ok($$ select pg_temp.v('{"minLength": 5, "maxLength": 2}', '"x"') $$, '22023', 'schema: minLength is larger than maxLength',
  'contradicting bounds');
select throws_ok($$ select pg_temp.v('[1]', '1') $$, '22023', 'schema: must be a JSON Schema (an object or a boolean), got array',
  'a schema that is not an object or boolean');

select * from finish();
rollback;
