-- A JSON Schema validator for a documented subset of JSON Schema (draft 2020-12 semantics), in plpgsql, for
-- working memory. Hosted Supabase has pg_jsonschema but the local PGlite does not, and a validator that
-- exists only on one side would let a document pass locally and fail after deploy; this one runs the same
-- everywhere.
--
-- Supported keywords (anything else is refused when the schema is set, so nobody believes an unsupported
-- keyword such as `format` or `oneOf` is enforced):
--   type                  "object" | "array" | "string" | "number" | "integer" | "boolean" | "null", or a
--                         non-empty array of them ("integer" is a number without a fractional part)
--   properties            {name: schema}        required   [names]     additionalProperties   boolean | schema
--   items                 schema (every element; the tuple form, an array of schemas, is not supported)
--   enum                  non-empty array        const      any value (both compared as JSON values: 1 = 1.0)
--   minimum, maximum, exclusiveMinimum, exclusiveMaximum     numbers
--   minLength, maxLength  characters (Unicode code points)   minItems, maxItems   elements
--   pattern               a regular expression searched in the string (PostgreSQL's ARE syntax, which agrees
--                         with ECMA-262 for classes, anchors, groups, quantifiers and look-ahead)
--   annotations, ignored: title, description, default, examples, $schema, $id, $comment, readOnly,
--                         writeOnly, deprecated
-- Boolean schemas work wherever a schema may stand: true accepts anything, false nothing. Schemas nest up
-- to 32 levels.
--
-- Errors name the JSON path that failed, JSONPath style: `$.address.city: expected string, got number`,
-- `$.tags[2]: must be at most 20 characters, got 31`, `$.address: missing required property "zip"`; a
-- schema error names the place in the schema: `schema.properties.age.minimum: must be a number`.

-- private.json_path_join(path text, key text) → text
--   `path.key` when key is a plain identifier, else `path["key"]` (the key JSON-quoted).
create or replace function private.json_path_join(path text, key text)
returns text
language sql
immutable
strict
parallel safe
security invoker
as $$
  select case when key ~ '^[A-Za-z_][A-Za-z0-9_]*$' then path || '.' || key else path || '[' || to_jsonb(key)::text || ']' end
$$;
revoke all on function private.json_path_join(text, text) from public, anon;
grant execute on function private.json_path_join(text, text) to authenticated, service_role;

-- private.json_schema_problem(schema jsonb, path text default 'schema', depth integer default 0) → text
--   Why `schema` is not a schema of the supported subset (the first problem found, naming its place), or
--   null when it is one. Immutable apart from the regular-expression check, which compiles each pattern.
create or replace function private.json_schema_problem(schema jsonb, path text default 'schema', depth integer default 0)
returns text
language plpgsql
immutable
security invoker
set search_path = ''
as $$
declare
  supported constant text[] := array['type', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'const',
    'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'pattern'];
  annotations constant text[] := array['title', 'description', 'default', 'examples', '$schema', '$id', '$comment',
    'readOnly', 'writeOnly', 'deprecated'];
  types constant text[] := array['object', 'array', 'string', 'number', 'integer', 'boolean', 'null'];
  k text;
  v jsonb;
  problem text;
  t jsonb;
begin
  if schema is null then
    return path || ': must be a JSON Schema (an object or a boolean), not null';
  end if;
  if jsonb_typeof(schema) = 'boolean' then
    return null;
  end if;
  if jsonb_typeof(schema) <> 'object' then
    return format('%s: must be a JSON Schema (an object or a boolean), got %s', path, jsonb_typeof(schema));
  end if;
  if depth >= 32 then
    return path || ': schemas nest at most 32 levels deep';
  end if;
  for k, v in select e.key, e.value from jsonb_each(schema) e order by e.key loop
    continue when k = any (annotations);
    if k <> all (supported) then
      return format('%s: keyword "%s" is not supported (supported: %s)', path, k, array_to_string(supported, ', '));
    end if;
    case k
      when 'type' then
        if jsonb_typeof(v) = 'string' then
          if v #>> '{}' <> all (types) then
            return format('%s.type: unknown type %s (types: %s)', path, v::text, array_to_string(types, ', '));
          end if;
        elsif jsonb_typeof(v) = 'array' and jsonb_array_length(v) > 0 then
          for t in select x from jsonb_array_elements(v) x loop
            if jsonb_typeof(t) <> 'string' or t #>> '{}' <> all (types) then
              return format('%s.type: unknown type %s (types: %s)', path, t::text, array_to_string(types, ', '));
            end if;
          end loop;
          if (select count(distinct x) from jsonb_array_elements(v) x) <> jsonb_array_length(v) then
            return path || '.type: lists a type twice';
          end if;
        else
          return path || '.type: must be a type name or a non-empty array of type names';
        end if;
      when 'properties' then
        if jsonb_typeof(v) <> 'object' then
          return path || '.properties: must be an object of property schemas';
        end if;
        for problem in
          select private.json_schema_problem(p.value, private.json_path_join(path || '.properties', p.key), depth + 1)
            from jsonb_each(v) p order by p.key
        loop
          if problem is not null then
            return problem;
          end if;
        end loop;
      when 'additionalProperties', 'items' then
        if jsonb_typeof(v) = 'array' then
          return format('%s.%s: the array (tuple) form is not supported; give one schema', path, k);
        end if;
        problem := private.json_schema_problem(v, path || '.' || k, depth + 1);
        if problem is not null then
          return problem;
        end if;
      when 'required' then
        if jsonb_typeof(v) <> 'array' or exists (select from jsonb_array_elements(v) x where jsonb_typeof(x) <> 'string') then
          return path || '.required: must be an array of property names';
        end if;
        if (select count(distinct x) from jsonb_array_elements(v) x) <> jsonb_array_length(v) then
          return path || '.required: lists a property twice';
        end if;
      when 'enum' then
        if jsonb_typeof(v) <> 'array' or jsonb_array_length(v) = 0 then
          return path || '.enum: must be a non-empty array of values';
        end if;
      when 'const' then
        null;
      when 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum' then
        if jsonb_typeof(v) <> 'number' then
          return format('%s.%s: must be a number', path, k);
        end if;
      when 'minLength', 'maxLength', 'minItems', 'maxItems' then
        if jsonb_typeof(v) <> 'number' or (v #>> '{}')::numeric < 0 or (v #>> '{}')::numeric <> trunc((v #>> '{}')::numeric)
           or (v #>> '{}')::numeric > 2147483647 then
          return format('%s.%s: must be a non-negative whole number', path, k);
        end if;
      when 'pattern' then
        if jsonb_typeof(v) <> 'string' then
          return path || '.pattern: must be a string (a regular expression)';
        end if;
        begin
          perform '' ~ (v #>> '{}');
        exception when invalid_regular_expression then
          return format('%s.pattern: is not a valid regular expression (%s)', path, sqlerrm);
        end;
    end case;
  end loop;
  if schema ? 'minLength' and schema ? 'maxLength' and (schema ->> 'minLength')::numeric > (schema ->> 'maxLength')::numeric then
    return path || ': minLength is larger than maxLength';
  end if;
  if schema ? 'minItems' and schema ? 'maxItems' and (schema ->> 'minItems')::numeric > (schema ->> 'maxItems')::numeric then
    return path || ': minItems is larger than maxItems';
  end if;
  return null;
end
$$;
revoke all on function private.json_schema_problem(jsonb, text, integer) from public, anon;
grant execute on function private.json_schema_problem(jsonb, text, integer) to authenticated, service_role;

-- private.json_type_name(value jsonb) → text
--   The JSON Schema type of a value: object, array, string, integer (a number without fraction), number,
--   boolean or null.
create or replace function private.json_type_name(value jsonb)
returns text
language sql
immutable
strict
parallel safe
security invoker
as $$
  select case when jsonb_typeof(value) = 'number' and (value #>> '{}')::numeric = trunc((value #>> '{}')::numeric)
              then 'integer' else jsonb_typeof(value) end
$$;
revoke all on function private.json_type_name(jsonb) from public, anon;
grant execute on function private.json_type_name(jsonb) to authenticated, service_role;

-- private.json_schema_violation(schema jsonb, instance jsonb, path text default '$') → text
--   The first place where `instance` fails `schema` (a schema private.json_schema_problem accepts), as
--   "<JSON path>: <what is wrong>", or null when it conforms. Object properties are checked in key order,
--   array elements in index order, so the same document always reports the same error.
create or replace function private.json_schema_violation(schema jsonb, instance jsonb, path text default '$')
returns text
language plpgsql
immutable
security invoker
set search_path = ''
as $$
declare
  actual text;
  allowed text[];
  problem text;
  n numeric;
  len integer;
  k text;
  v jsonb;
  i integer;
  extra jsonb;
begin
  if jsonb_typeof(schema) = 'boolean' then
    return case when (schema #>> '{}')::boolean then null else path || ': no value is allowed here (schema false)' end;
  end if;
  if instance is null then
    return path || ': missing';
  end if;
  actual := private.json_type_name(instance);

  if schema ? 'type' then
    allowed := case jsonb_typeof(schema -> 'type') when 'string' then array[schema ->> 'type']
                    else array(select jsonb_array_elements_text(schema -> 'type')) end;
    if not (actual = any (allowed) or (actual = 'integer' and 'number' = any (allowed))) then
      return format('%s: expected %s, got %s', path, array_to_string(allowed, ' or '),
                    case when actual = 'integer' then 'number' else actual end);
    end if;
  end if;
  if schema ? 'const' and instance <> schema -> 'const' then
    return format('%s: must be %s', path, left((schema -> 'const')::text, 200));
  end if;
  if schema ? 'enum' and not exists (select from jsonb_array_elements(schema -> 'enum') e where e = instance) then
    return format('%s: must be one of %s, got %s', path,
      left((select string_agg(e::text, ', ') from jsonb_array_elements(schema -> 'enum') e), 300), left(instance::text, 100));
  end if;

  if jsonb_typeof(instance) = 'number' then
    n := (instance #>> '{}')::numeric;
    if schema ? 'minimum' and n < (schema ->> 'minimum')::numeric then
      return format('%s: must be at least %s, got %s', path, schema ->> 'minimum', instance::text);
    end if;
    if schema ? 'maximum' and n > (schema ->> 'maximum')::numeric then
      return format('%s: must be at most %s, got %s', path, schema ->> 'maximum', instance::text);
    end if;
    if schema ? 'exclusiveMinimum' and n <= (schema ->> 'exclusiveMinimum')::numeric then
      return format('%s: must be more than %s, got %s', path, schema ->> 'exclusiveMinimum', instance::text);
    end if;
    if schema ? 'exclusiveMaximum' and n >= (schema ->> 'exclusiveMaximum')::numeric then
      return format('%s: must be less than %s, got %s', path, schema ->> 'exclusiveMaximum', instance::text);
    end if;
  elsif jsonb_typeof(instance) = 'string' then
    len := char_length(instance #>> '{}');
    if schema ? 'minLength' and len < (schema ->> 'minLength')::numeric then
      return format('%s: must be at least %s characters, got %s', path, schema ->> 'minLength', len);
    end if;
    if schema ? 'maxLength' and len > (schema ->> 'maxLength')::numeric then
      return format('%s: must be at most %s characters, got %s', path, schema ->> 'maxLength', len);
    end if;
    if schema ? 'pattern' and (instance #>> '{}') !~ (schema ->> 'pattern') then
      return format('%s: does not match the pattern %s', path, to_jsonb(schema ->> 'pattern')::text);
    end if;
  elsif jsonb_typeof(instance) = 'array' then
    len := jsonb_array_length(instance);
    if schema ? 'minItems' and len < (schema ->> 'minItems')::numeric then
      return format('%s: must have at least %s items, got %s', path, schema ->> 'minItems', len);
    end if;
    if schema ? 'maxItems' and len > (schema ->> 'maxItems')::numeric then
      return format('%s: must have at most %s items, got %s', path, schema ->> 'maxItems', len);
    end if;
    if schema ? 'items' then
      for v, i in select e.elem, (e.ord - 1)::integer from jsonb_array_elements(instance) with ordinality e(elem, ord) order by e.ord loop
        problem := private.json_schema_violation(schema -> 'items', v, path || '[' || i || ']');
        if problem is not null then
          return problem;
        end if;
      end loop;
    end if;
  elsif jsonb_typeof(instance) = 'object' then
    if schema ? 'required' then
      select r into k from jsonb_array_elements_text(schema -> 'required') with ordinality x(r, ord)
       where not instance ? r order by x.ord limit 1;
      if k is not null then
        return format('%s: missing required property %s', path, to_jsonb(k)::text);
      end if;
    end if;
    for k, v in select e.key, e.value from jsonb_each(instance) e order by e.key loop
      if schema -> 'properties' ? k then
        problem := private.json_schema_violation(schema -> 'properties' -> k, v, private.json_path_join(path, k));
      elsif schema ? 'additionalProperties' then
        extra := schema -> 'additionalProperties';
        if extra = 'false'::jsonb then
          problem := format('%s: property %s is not allowed (additionalProperties is false)', path, to_jsonb(k)::text);
        else
          problem := private.json_schema_violation(extra, v, private.json_path_join(path, k));
        end if;
      else
        problem := null;
      end if;
      if problem is not null then
        return problem;
      end if;
    end loop;
  end if;
  return null;
end
$$;
revoke all on function private.json_schema_violation(jsonb, jsonb, text) from public, anon;
grant execute on function private.json_schema_violation(jsonb, jsonb, text) to authenticated, service_role;

-- validate_json_schema(schema jsonb, value jsonb) → text
--   For clients and tests: null when `value` conforms to `schema`, else the first violation
--   ("$.address.city: expected string, got number"). Raises 22023 when `schema` itself is not a schema
--   of the supported subset (see the header). Callers: authenticated, service_role.
create or replace function public.validate_json_schema(schema jsonb, value jsonb)
returns text
language plpgsql
immutable
security invoker
set search_path = ''
as $$
declare
  problem text := private.json_schema_problem(validate_json_schema.schema);
begin
  if problem is not null then
    raise exception '%', problem using errcode = '22023',
      hint = 'Supported: type, properties, required, additionalProperties, items, enum, const, minimum, maximum, '
          || 'exclusiveMinimum, exclusiveMaximum, minLength, maxLength, minItems, maxItems, pattern (and annotations).';
  end if;
  return private.json_schema_violation(validate_json_schema.schema, validate_json_schema.value);
end
$$;
comment on function public.validate_json_schema(jsonb, jsonb) is
  'Checks a JSON value against a JSON Schema of the supported subset: null when it conforms, else the JSON path and what failed.';
revoke all on function public.validate_json_schema(jsonb, jsonb) from public, anon;
grant execute on function public.validate_json_schema(jsonb, jsonb) to authenticated, service_role;
