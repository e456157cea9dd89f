//! The callable functions of the exposed schemas: their overloads read from `pg_catalog` and
//! cached, the overload a call's argument names select (PostgREST's rules), and the SQL that
//! calls it with every value bound, never spliced.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use axum::http::StatusCode;

use super::api_error::ApiError;
use super::roles::ApiRole;

/// One overload of an exposed function: its IN arguments in declaration order.
#[derive(Debug, Clone)]
pub(super) struct Overload {
    /// IN arguments, in declaration order.
    pub(super) args: Vec<Arg>,
    /// `returns setof ...` / `returns table (...)`: answered as a JSON array.
    pub(super) returns_set: bool,
    /// `returns void`: answered 204.
    pub(super) returns_void: bool,
    /// Rows with columns (a table or composite type, `returns table`, OUT parameters), as
    /// opposed to a scalar, which PostgREST names `pgrst_scalar` when it filters.
    pub(super) returns_composite: bool,
}

/// One IN argument of an overload.
#[derive(Debug, Clone)]
pub(super) struct Arg {
    /// Empty for an unnamed argument.
    pub(super) name: String,
    /// The type as `format_type` spells it (valid SQL, quoted and qualified as needed).
    pub(super) type_sql: String,
    /// Whether the argument has a default (may be left out).
    pub(super) has_default: bool,
}

impl Overload {
    /// A single unnamed json/jsonb argument receives the whole body (PostgREST's rule).
    pub(super) fn takes_whole_body(&self) -> bool {
        matches!(&self.args[..], [arg] if arg.name.is_empty() && (arg.type_sql == "json" || arg.type_sql == "jsonb"))
    }

    /// True when the call's keys name only arguments of this overload and cover the ones
    /// without defaults.
    pub(super) fn accepts(&self, keys: &BTreeSet<String>) -> bool {
        keys.iter().all(|k| self.args.iter().any(|a| &a.name == k))
            && self
                .args
                .iter()
                .all(|a| a.has_default || keys.contains(&a.name))
    }
}

/// Overloads of one function of schema `$2`: set-returning?, void?, argument names and
/// modes, IN argument types, number of defaults, composite result?
const LOOKUP_SQL: &str = "select p.proretset, \
       p.prorettype = 'pg_catalog.void'::pg_catalog.regtype, \
       coalesce(p.proargnames, array[]::text[]), \
       coalesce(p.proargmodes::text[], array[]::text[]), \
       array(select pg_catalog.format_type(u.t, null) \
             from unnest(p.proargtypes) with ordinality as u(t, n) order by u.n), \
       p.pronargdefaults::int4, \
       t.typtype = 'c' or p.prorettype = 'pg_catalog.record'::pg_catalog.regtype \
     from pg_catalog.pg_proc p \
     join pg_catalog.pg_namespace n on n.oid = p.pronamespace \
     join pg_catalog.pg_type t on t.oid = p.prorettype \
     where n.nspname = $2 and p.proname = $1 and p.prokind = 'f'";

/// One schema's functions: name to overloads.
type SchemaFunctions = HashMap<String, Arc<[Overload]>>;

/// Overloads of the exposed functions seen so far, per schema. Names not found are not
/// cached, so a function created later is found on its first call.
#[derive(Debug, Default)]
pub(super) struct FunctionCache {
    functions: RwLock<HashMap<&'static str, SchemaFunctions>>,
}

impl FunctionCache {
    /// The cached overloads of `schema.function`, if any.
    pub(super) fn cached(&self, schema: &str, function: &str) -> Option<Arc<[Overload]>> {
        self.functions
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(schema)?
            .get(function)
            .cloned()
    }

    /// Reads the function's overloads from the catalogue and caches them (when it exists).
    pub(super) async fn lookup(
        &self,
        client: &deadpool_postgres::Object,
        schema: &'static str,
        function: &str,
        role: ApiRole,
    ) -> Result<Arc<[Overload]>, ApiError> {
        let statement = client
            .prepare_cached(LOOKUP_SQL)
            .await
            .map_err(|e| ApiError::database(&e, role))?;
        let rows = client
            .query(&statement, &[&function, &schema])
            .await
            .map_err(|e| ApiError::database(&e, role))?;
        let overloads: Vec<Overload> = rows
            .iter()
            .map(|row| {
                let names: Vec<String> = row.get(2);
                let modes: Vec<String> = row.get(3);
                let types: Vec<String> = row.get(4);
                let defaults = usize::try_from(row.get::<_, i32>(5)).unwrap_or(0);
                let in_names: Vec<String> = if modes.is_empty() {
                    (0..types.len())
                        .map(|i| names.get(i).cloned().unwrap_or_default())
                        .collect()
                } else {
                    modes
                        .iter()
                        .enumerate()
                        .filter(|(_, m)| matches!(m.as_str(), "i" | "b" | "v"))
                        .map(|(i, _)| names.get(i).cloned().unwrap_or_default())
                        .collect()
                };
                let first_default = types.len().saturating_sub(defaults);
                Overload {
                    args: types
                        .into_iter()
                        .zip(in_names)
                        .enumerate()
                        .map(|(i, (type_sql, name))| Arg {
                            name,
                            type_sql,
                            has_default: i >= first_default,
                        })
                        .collect(),
                    returns_set: row.get(0),
                    returns_void: row.get(1),
                    returns_composite: row.get::<_, Option<bool>>(6).unwrap_or(false),
                }
            })
            .collect();
        let overloads: Arc<[Overload]> = overloads.into();
        let mut all = self
            .functions
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let functions = all.entry(schema).or_default();
        if overloads.is_empty() {
            // Dropped since it was cached: forget it, so it is looked up again when it returns.
            functions.remove(function);
        } else {
            functions.insert(function.to_string(), overloads.clone());
        }
        Ok(overloads)
    }
}

/// The overload the call's keys select; PGRST203 when several fit equally.
pub(super) fn pick<'a>(
    overloads: &'a [Overload],
    keys: &BTreeSet<String>,
) -> Result<Option<&'a Overload>, ApiError> {
    let fitting: Vec<&Overload> = overloads.iter().filter(|o| o.accepts(keys)).collect();
    match fitting[..] {
        [one] => Ok(Some(one)),
        [] => Ok(overloads.iter().find(|o| o.takes_whole_body())),
        _ => Err(ApiError::new(
            StatusCode::MULTIPLE_CHOICES,
            "PGRST203",
            "Could not choose the best candidate function between several overloads",
        )),
    }
}

/// PostgREST's answer for a function (or argument set) it does not know (PGRST202; the hint,
/// a fuzzy "Perhaps you meant", is left out). `json_body` is true for a POST with a JSON body,
/// which could also have matched a single unnamed json/jsonb parameter.
pub(super) fn not_found(
    schema: &str,
    function: &str,
    keys: &BTreeSet<String>,
    json_body: bool,
) -> ApiError {
    let list = keys.iter().cloned().collect::<Vec<_>>().join(", ");
    let mut e = ApiError::new(
        StatusCode::NOT_FOUND,
        "PGRST202",
        if keys.is_empty() {
            format!("Could not find the function {schema}.{function} without parameters in the schema cache")
        } else {
            format!("Could not find the function {schema}.{function}({list}) in the schema cache")
        },
    );
    let searched = if keys.is_empty() {
        " without parameters".to_string()
    } else if keys.len() == 1 {
        format!(" with parameter {list}")
    } else {
        format!(" with parameters {list}")
    };
    let unnamed = if json_body {
        " or with a single unnamed json/jsonb parameter"
    } else {
        ""
    };
    e.body.details = Some(format!(
        "Searched for the function {schema}.{function}{searched}{unnamed}, but no matches were found in the schema cache."
    ));
    e
}

/// `name` as a quoted SQL identifier (NUL characters dropped, as PostgREST drops them:
/// PostgreSQL refuses them in any text).
pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('\0', "").replace('"', "\"\""))
}

/// A call's SQL and whether it takes the arguments' JSON as `$1`.
pub(super) struct CallSql {
    /// The statement.
    pub(super) sql: String,
    /// True when `$1` is the JSON object of arguments.
    pub(super) binds_args: bool,
}

/// The call as a FROM item (`... public."fn"(...) as _pgrst_r`): `$1`, when present, is the
/// JSON object of arguments expanded with `json_to_record` into the declared types, or the
/// whole body for a single unnamed json/jsonb argument.
pub(super) struct CallFrom {
    /// The FROM clause's text, without `from`.
    pub(super) from: String,
    /// True when `$1` is the JSON object of arguments (or the whole body).
    pub(super) binds_args: bool,
}

/// The FROM item that calls `schema.function` with the call's `keys`.
pub(super) fn call_from(
    schema: &str,
    function: &str,
    overload: &Overload,
    keys: &BTreeSet<String>,
) -> CallFrom {
    let function = format!("{}.{}", quote_ident(schema), quote_ident(function));
    let whole_body = overload.takes_whole_body() && !overload.accepts(keys);
    let (from_args, call) = if whole_body {
        (
            String::new(),
            format!("{function}($1::text::{})", overload.args[0].type_sql),
        )
    } else {
        let given: Vec<&Arg> = overload
            .args
            .iter()
            .filter(|a| keys.contains(&a.name))
            .collect();
        if given.is_empty() {
            (String::new(), format!("{function}()"))
        } else {
            let columns = given
                .iter()
                .map(|a| format!("{} {}", quote_ident(&a.name), a.type_sql))
                .collect::<Vec<_>>()
                .join(", ");
            let named = given
                .iter()
                .map(|a| format!("{0} => _pgrst_args.{0}", quote_ident(&a.name)))
                .collect::<Vec<_>>()
                .join(", ");
            (
                format!("pg_catalog.json_to_record($1::text::json) as _pgrst_args({columns}) cross join lateral "),
                format!("{function}({named})"),
            )
        }
    };
    CallFrom {
        binds_args: whole_body || !from_args.is_empty(),
        from: format!("{from_args}{call} as _pgrst_r"),
    }
}

/// The plain call's SQL: the result as JSON text, and for a set its row count (which
/// `Content-Range` reports).
pub(super) fn call_sql(
    schema: &str,
    function: &str,
    overload: &Overload,
    keys: &BTreeSet<String>,
) -> CallSql {
    let call = call_from(schema, function, overload, keys);
    let select = if overload.returns_void {
        "null::text, 1::int8"
    } else if overload.returns_set {
        "coalesce(pg_catalog.json_agg(_pgrst_r), '[]')::text, pg_catalog.count(*)"
    } else {
        "pg_catalog.to_json(_pgrst_r)::text, 1::int8"
    };
    CallSql {
        binds_args: call.binds_args,
        sql: format!("select {select} from {}", call.from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overload(args: &[(&str, &str, bool)], returns_set: bool) -> Overload {
        Overload {
            args: args
                .iter()
                .map(|(n, t, d)| Arg {
                    name: n.to_string(),
                    type_sql: t.to_string(),
                    has_default: *d,
                })
                .collect(),
            returns_set,
            returns_void: false,
            returns_composite: true,
        }
    }

    fn keys(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments_are_bound_through_json_to_record_never_spliced() {
        let o = overload(
            &[("events", "jsonb", false), ("dry \"run\"", "boolean", true)],
            false,
        );
        let call = call_sql("public", "report", &o, &keys(&["events"]));
        assert!(call.binds_args);
        assert_eq!(
            call.sql,
            "select pg_catalog.to_json(_pgrst_r)::text, 1::int8 from pg_catalog.json_to_record($1::text::json) \
             as _pgrst_args(\"events\" jsonb) cross join lateral \
             \"public\".\"report\"(\"events\" => _pgrst_args.\"events\") as _pgrst_r"
        );
    }

    #[test]
    fn overloads_are_chosen_by_argument_names_and_defaults() {
        let o = overload(&[("a", "int4", false), ("b", "text", true)], true);
        assert!(o.accepts(&keys(&["a"])));
        assert!(o.accepts(&keys(&["a", "b"])));
        assert!(!o.accepts(&keys(&["b"])));
        assert!(!o.accepts(&keys(&["a", "c"])));
    }

    #[test]
    fn a_single_unnamed_json_argument_takes_the_whole_body() {
        let o = overload(&[("", "jsonb", false)], false);
        assert!(o.takes_whole_body());
        let sql = call_sql("public", "f", &o, &keys(&["x"])).sql;
        assert!(sql.contains("\"public\".\"f\"($1::text::jsonb)"), "{sql}");
    }
}
