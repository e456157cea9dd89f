//! The SQL that shapes a function's result as PostgREST shapes it: the call in a
//! `pgrst_source` CTE, then `select` columns, filters, `order`, `limit`/`offset` over it
//! (aliased by the function's name, so PostgreSQL's own errors name columns as PostgREST's
//! do: `column gw_items.nope does not exist`), the exact count when asked, and the body as
//! JSON, a single object or CSV.
//!
//! Column names are quoted identifiers; every value (filter operands, `limit`, `offset`) is
//! a parameter sent as an untyped text literal, as PostgREST sends it, so PostgreSQL reads it
//! as the column's type. Nothing from the request is spliced into the SQL except quoted
//! identifiers and casts restricted to PostgREST's identifier characters.

use std::collections::BTreeSet;
use std::error::Error;

use bytes::BytesMut;
use tokio_postgres::types::{to_sql_checked, Format, IsNull, ToSql, Type};

use super::function_catalog::{call_from, quote_ident, Overload};
use super::negotiation::Media;
use super::query_params::{Filter, Operation, Quantifier, QueryParams};
use super::range::RowRange;

/// What a request asks of a function's result beyond the call itself.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape<'a> {
    /// `select`, filters, `order`.
    pub(super) params: &'a QueryParams,
    /// The rows wanted.
    pub(super) range: RowRange,
    /// `Prefer: count=exact`.
    pub(super) count: bool,
    /// The response format.
    pub(super) media: Media,
}

impl Shape<'_> {
    /// True when the plain call answers it: all rows, as JSON, nothing filtered or counted.
    pub(super) fn is_plain(&self) -> bool {
        self.params.only_args()
            && self.range == RowRange::ALL
            && !self.count
            && self.media.is_plain_json()
    }
}

/// A shaped call: the statement and its parameters, in order (`$1` first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ShapedSql {
    /// The statement: one row of (total count or null, rows in the page, body as text).
    pub(super) sql: String,
    /// Parameters: the arguments' JSON when the call takes it, then the literals.
    pub(super) params: Vec<String>,
}

/// The statement for a shaped call. `args_json` is the call's arguments (bound as `$1` when
/// the call takes them).
pub(super) fn shaped_sql(
    schema: &str,
    function: &str,
    overload: &Overload,
    keys: &BTreeSet<String>,
    args_json: &str,
    shape: &Shape<'_>,
) -> ShapedSql {
    let call = call_from(schema, function, overload, keys);
    let mut params = Vec::new();
    if call.binds_args {
        params.push(args_json.to_string());
    }
    let alias = quote_ident(function);
    let column = |name: &str| format!("{alias}.{}", quote_ident(name));
    // A scalar result is one column, named as PostgREST names it.
    let source_columns = if overload.returns_composite {
        "_pgrst_r.*"
    } else {
        "_pgrst_r as pgrst_scalar"
    };
    let mut bind = |value: String| {
        params.push(value);
        format!("${}", params.len())
    };
    let conditions: Vec<String> = shape
        .params
        .filters
        .iter()
        .map(|f| condition(f, &column(&f.column), &mut bind))
        .collect();
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" where {}", conditions.join(" and "))
    };
    let order = if shape.params.order.is_empty() {
        String::new()
    } else {
        let terms: Vec<String> = shape
            .params
            .order
            .iter()
            .map(|t| {
                let mut term = column(&t.column);
                for word in [t.direction, t.nulls].into_iter().flatten() {
                    term.push(' ');
                    term.push_str(word);
                }
                term
            })
            .collect();
        format!(" order by {}", terms.join(", "))
    };
    let limit = if shape.range == RowRange::ALL {
        String::new()
    } else {
        let limit = match shape.range.limit() {
            Some(n) => bind(n.to_string()),
            None => "all".to_string(),
        };
        let offset = bind(shape.range.lower.to_string());
        format!(" limit {limit} offset {offset}")
    };
    let columns = if shape.params.select.is_empty() {
        format!("{alias}.*")
    } else {
        shape
            .params
            .select
            .iter()
            .map(|item| {
                let mut text = match &item.column {
                    None => format!("{alias}.*"),
                    Some(name) => column(name),
                };
                if let Some(cast) = &item.cast {
                    text = format!("cast({text} as {cast})");
                }
                if let Some(name) = &item.alias {
                    text = format!("{text} as {}", quote_ident(name));
                }
                text
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let total = if shape.count {
        format!("(select pg_catalog.count(*) from pgrst_source as {alias}{where_clause})")
    } else {
        "null::int8".to_string()
    };
    let sql = format!(
        "with pgrst_source as (select {source_columns} from {from}), \
         pgrst_page as (select {columns} from pgrst_source as {alias}{where_clause}{order}{limit}) \
         select {total}, pg_catalog.count(_postgrest_t), ({body})::text \
         from pgrst_page as _postgrest_t",
        from = call.from,
        body = body(overload, shape.media),
    );
    ShapedSql { sql, params }
}

/// One filter as SQL over `column`, its operand bound through `bind`.
fn condition(filter: &Filter, column: &str, bind: &mut impl FnMut(String) -> String) -> String {
    let test = match &filter.operation {
        Operation::Compare {
            sql,
            quantifier,
            value,
        } => {
            let operand = bind(value.clone());
            match quantifier {
                None => format!("{column} {sql} {operand}"),
                Some(Quantifier::Any) => format!("{column} {sql} any({operand})"),
                Some(Quantifier::All) => format!("{column} {sql} all({operand})"),
            }
        }
        Operation::Is(keyword) => format!("{column} is {keyword}"),
        Operation::IsDistinct(value) => {
            format!("{column} is distinct from {}", bind(value.clone()))
        }
        // PostgREST's `in.()` (one empty element): nothing matches.
        Operation::In(items) if items.len() == 1 && items[0].is_empty() => {
            format!("{column} = any('{{}}')")
        }
        Operation::In(items) => format!("{column} = any({})", bind(array_literal(items))),
    };
    if filter.negated {
        format!("not ({test})")
    } else {
        test
    }
}

/// `{"a","b \"c\""}`: a PostgreSQL array literal of the elements, quoted and escaped as
/// PostgREST's `pgBuildArrayLiteral` builds it (NUL characters dropped).
fn array_literal(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|item| {
            let clean = item
                .replace('\0', "")
                .replace('\\', "\\\\")
                .replace('"', "\\\"");
            format!("\"{clean}\"")
        })
        .collect();
    format!("{{{}}}", quoted.join(","))
}

/// The body over the page's rows (`_postgrest_t`), as PostgREST's handlers build it.
fn body(overload: &Overload, media: Media) -> String {
    let value = if overload.returns_composite {
        "_postgrest_t"
    } else {
        "_postgrest_t.pgrst_scalar"
    };
    let single = |stripped: bool| {
        let agg = format!("pg_catalog.json_agg({value})->0");
        let agg = if stripped {
            format!("pg_catalog.json_strip_nulls({agg})")
        } else {
            agg
        };
        format!("coalesce({agg}, 'null')")
    };
    match media {
        Media::Object { stripped } => single(stripped),
        Media::Json | Media::JsonStripped if !overload.returns_set => {
            single(media == Media::JsonStripped)
        }
        Media::Json => format!("coalesce(pg_catalog.json_agg({value}), '[]')"),
        Media::JsonStripped => {
            format!("coalesce(pg_catalog.json_strip_nulls(pg_catalog.json_agg({value})), '[]')")
        }
        // Header: the first row's column names; rows: each row's text form without its
        // parentheses (PostgreSQL's record quoting, as PostgREST's CSV has it).
        Media::Csv => "(select coalesce(pg_catalog.string_agg(a.k, ','), '') from \
                 (select pg_catalog.json_object_keys(pg_catalog.row_to_json(hh))::text as k \
                  from (select * from pgrst_page limit 1) hh) a) \
             || chr(10) || \
             coalesce(pg_catalog.string_agg(pg_catalog.substring(_postgrest_t::text, 2, \
                 pg_catalog.length(_postgrest_t::text) - 2), chr(10)), '')"
            .to_string(),
    }
}

/// A parameter sent as text for PostgreSQL to read as whatever type the statement gives it,
/// like PostgREST's `unknown`-typed literals (`col = $1` reads `$1` as the column's type).
#[derive(Debug)]
pub(super) struct UntypedLiteral<'a>(pub(super) &'a str);

impl ToSql for UntypedLiteral<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::super::function_catalog::Arg;
    use super::super::query_params::{parse, SelectItem};
    use super::*;

    fn items() -> Overload {
        Overload {
            args: vec![Arg {
                name: "owner".into(),
                type_sql: "text".into(),
                has_default: false,
            }],
            returns_set: true,
            returns_void: false,
            returns_composite: true,
        }
    }

    #[test]
    fn values_are_parameters_and_names_are_quoted_identifiers() {
        let query: Vec<(String, String)> = [
            ("n", "gt.2"),
            ("label", "in.(a,\"b\\\"c\")"),
            // A quoted field name may hold anything; it reaches SQL as a quoted identifier.
            ("\"x\\\"; drop table t; --\"", "eq.1"),
            ("order", "n.desc.nullslast"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let params = parse(false, &query).unwrap();
        let shape = Shape {
            params: &params,
            range: RowRange {
                lower: 1,
                upper: Some(2),
            },
            count: true,
            media: Media::Json,
        };
        let keys: BTreeSet<String> = ["owner".to_string()].into();
        let shaped = shaped_sql("public", "gw_items", &items(), &keys, "{}", &shape);
        assert_eq!(
            shaped.params,
            vec!["{}", "2", "{\"a\",\"b\\\"c\"}", "1", "2", "1"]
        );
        assert!(shaped.sql.contains(
            "where \"gw_items\".\"n\" > $2 and \"gw_items\".\"label\" = any($3) and \"gw_items\".\"x\"\"; drop table t; --\" = $4 \
             order by \"gw_items\".\"n\" DESC NULLS LAST limit $5 offset $6"
        ), "{}", shaped.sql);
        assert!(shaped
            .sql
            .contains("(select pg_catalog.count(*) from pgrst_source as \"gw_items\" where"));
    }

    #[test]
    fn select_items_become_columns_casts_and_aliases() {
        let params = QueryParams {
            select: vec![
                SelectItem {
                    column: Some("n".into()),
                    alias: Some("num".into()),
                    cast: Some("text".into()),
                },
                SelectItem {
                    column: None,
                    alias: None,
                    cast: None,
                },
            ],
            ..QueryParams::default()
        };
        let shape = Shape {
            params: &params,
            range: RowRange::ALL,
            count: false,
            media: Media::Csv,
        };
        let shaped = shaped_sql("public", "f", &items(), &BTreeSet::new(), "{}", &shape);
        assert!(
            shaped
                .sql
                .contains("select cast(\"f\".\"n\" as text) as \"num\", \"f\".* from pgrst_source"),
            "{}",
            shaped.sql
        );
        assert!(shaped.params.is_empty());
    }
}
