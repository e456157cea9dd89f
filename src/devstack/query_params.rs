//! PostgREST's URL query grammar for a function call: `select`, horizontal filters,
//! `order`, `limit`/`offset`, and (on GET) the function's arguments. What PostgREST supports
//! and the dev stack does not (embedding, JSON paths, `or`/`and`, full-text search,
//! `columns`, `on_conflict`) is refused with PGRST127, never ignored; what PostgREST cannot
//! parse is PGRST100; aggregates are PGRST123, as on Supabase where they are disabled.
//!
//! Parse errors carry PostgREST's message (`"failed to parse filter (x)" (line 1, column n)`)
//! and a `details` in the words of its parser for the common mistakes.

use axum::http::StatusCode;

use super::api_error::ApiError;

/// What the query string asks of a call.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct QueryParams {
    /// Arguments (GET and HEAD only): parameters whose value is not an operator expression.
    pub(super) args: Vec<(String, String)>,
    /// The columns to return; empty means all (`*`).
    pub(super) select: Vec<SelectItem>,
    /// Filters, all of which a row must pass.
    pub(super) filters: Vec<Filter>,
    /// Sort terms, in order.
    pub(super) order: Vec<OrderTerm>,
    /// `limit`, when it is an integer (PostgREST ignores one that is not).
    pub(super) limit: Option<i64>,
    /// `offset`, when it is an integer (PostgREST ignores one that is not).
    pub(super) offset: Option<i64>,
}

impl QueryParams {
    /// True when nothing but arguments was asked for.
    pub(super) fn only_args(&self) -> bool {
        self.select.is_empty()
            && self.filters.is_empty()
            && self.order.is_empty()
            && self.limit.is_none()
            && self.offset.is_none()
    }
}

/// One `select` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SelectItem {
    /// The column; `None` is `*`.
    pub(super) column: Option<String>,
    /// `alias:column`.
    pub(super) alias: Option<String>,
    /// `column::type`: letters, digits, `_`, `$` and spaces only (PostgREST's identifier
    /// grammar), so it can be written into the SQL as a type name.
    pub(super) cast: Option<String>,
}

/// One horizontal filter: `column=[not.]operator.value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Filter {
    /// The column filtered on.
    pub(super) column: String,
    /// `not.` before the operator.
    pub(super) negated: bool,
    /// The operator and its operand.
    pub(super) operation: Operation,
}

/// A filter's operator and operand. Operands are sent as untyped literals, as PostgREST
/// sends them, so PostgreSQL reads them as the column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Operation {
    /// `eq`, `neq`, `gt`, `gte`, `lt`, `lte`, `like`, `ilike`, `match`, `imatch`, `cs`,
    /// `cd`, `ov`, `sl`, `sr`, `nxr`, `nxl`, `adj`: `column <sql> value`, or
    /// `column <sql> any|all(value)` with a quantifier.
    Compare {
        /// The SQL operator.
        sql: &'static str,
        /// `eq(any)`, `like(all)`...: the operand is an array literal.
        quantifier: Option<Quantifier>,
        /// The operand (for `like`/`ilike`, `*` already turned into `%`).
        value: String,
    },
    /// `is.null` and the other `IS` keywords.
    Is(&'static str),
    /// `isdistinct.value`.
    IsDistinct(String),
    /// `in.(a,b,"c,d")`: the list's elements.
    In(Vec<String>),
}

/// `(any)` or `(all)` after a comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Quantifier {
    /// `= any(..)`.
    Any,
    /// `= all(..)`.
    All,
}

/// One `order` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OrderTerm {
    /// The column.
    pub(super) column: String,
    /// `asc`/`desc` as SQL, when given.
    pub(super) direction: Option<&'static str>,
    /// `nullsfirst`/`nullslast` as SQL, when given.
    pub(super) nulls: Option<&'static str>,
}

/// Comparison operators without a quantifier, as PostgREST spells them and their SQL.
const SIMPLE_OPERATORS: [(&str, &str); 9] = [
    ("neq", "<>"),
    ("cs", "@>"),
    ("cd", "<@"),
    ("ov", "&&"),
    ("sl", "<<"),
    ("sr", ">>"),
    ("nxr", "&<"),
    ("nxl", "&>"),
    ("adj", "-|-"),
];

/// Comparison operators that take `(any)`/`(all)`, in PostgREST's matching order (`gte`
/// before `gt`, `lte` before `lt`).
const QUANT_OPERATORS: [(&str, &str); 9] = [
    ("eq", "="),
    ("gte", ">="),
    ("gt", ">"),
    ("lte", "<="),
    ("lt", "<"),
    ("like", "like"),
    ("ilike", "ilike"),
    ("match", "~"),
    ("imatch", "~*"),
];

/// `is.` operands (case-insensitive) and their SQL.
const IS_VALUES: [(&str, &str); 5] = [
    ("null", "NULL"),
    ("not_null", "NOT NULL"),
    ("true", "TRUE"),
    ("false", "FALSE"),
    ("unknown", "UNKNOWN"),
];

/// Full-text search operators (refused: PGRST127).
const FTS_OPERATORS: [&str; 4] = ["fts", "plfts", "phfts", "wfts"];

/// Aggregates PostgREST knows (`col.sum()`...); Supabase disables them (PGRST123).
const AGGREGATES: [&str; 5] = ["sum", "avg", "count", "max", "min"];

/// Parses a call's query string (already URL-decoded, the `apikey` removed). `rpc_read` is
/// true for GET and HEAD, where a parameter without an operator is an argument.
///
/// # Errors
///
/// PGRST100 (400) for what PostgREST cannot parse, PGRST127 (400) for what it supports and
/// the dev stack does not, PGRST123 (400) for aggregates.
pub(super) fn parse(rpc_read: bool, query: &[(String, String)]) -> Result<QueryParams, ApiError> {
    let mut params = QueryParams::default();
    // PostgREST's order of evaluation: order, logic trees, columns, select, filters.
    for (key, value) in query.iter().filter(|(k, _)| last_segment(k) == "order") {
        if key != "order" {
            return Err(not_implemented(format!(
                "ordering an embedded resource ('{key}') is not supported by the dev stack gateway"
            )));
        }
        params.order.extend(parse_order(value)?);
    }
    if let Some((key, _)) = query
        .iter()
        .find(|(k, _)| matches!(last_segment(k), "and" | "or"))
    {
        return Err(not_implemented(format!(
            "logic trees ('{key}') are not supported by the dev stack gateway"
        )));
    }
    for reserved in ["columns", "on_conflict"] {
        if query.iter().any(|(k, _)| k == reserved) {
            return Err(not_implemented(format!(
                "the '{reserved}' query parameter is not supported by the dev stack gateway"
            )));
        }
    }
    if let Some((_, select)) = query.iter().find(|(k, _)| k == "select") {
        params.select = parse_select(select)?;
    }
    for (key, value) in query {
        match (key.as_str(), last_segment(key)) {
            ("select", _) => {}
            (_, "limit" | "offset") if key.contains('.') => {
                return Err(not_implemented(format!(
                "limiting an embedded resource ('{key}') is not supported by the dev stack gateway"
            )))
            }
            // An integer, or ignored as PostgREST ignores it (Haskell's `readMaybe`).
            (_, "limit") => params.limit = value.trim().parse().ok().or(params.limit),
            (_, "offset") => params.offset = value.trim().parse().ok().or(params.offset),
            (_, "order") => {}
            _ => match parse_filter(rpc_read, key, value)? {
                Parsed::Filter(filter) => params.filters.push(filter),
                Parsed::Arg(name) => params.args.push((name, value.clone())),
            },
        }
    }
    Ok(params)
}

/// The last `.`-separated part of a key (`clients.order` → `order`).
fn last_segment(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// A filter, or (GET only) an argument.
enum Parsed {
    Filter(Filter),
    Arg(String),
}

fn parse_filter(rpc_read: bool, key: &str, value: &str) -> Result<Parsed, ApiError> {
    let path = TreePath::parse(key)
        .map_err(|e| e.into_api_error(&format!("failed to parse tree path ({key})")))?;
    let operator = value.strip_prefix("not.").unwrap_or(value);
    if let Some(fts) = FTS_OPERATORS.iter().find(|fts| {
        operator
            .strip_prefix(**fts)
            .is_some_and(|after| after.starts_with('.') || after.starts_with('('))
    }) {
        return Err(not_implemented(format!(
            "full-text search ('{fts}') is not supported by the dev stack gateway"
        )));
    }
    let operation = parse_operation(value)
        .map_err(|e| e.into_api_error(&format!("failed to parse filter ({value})")))?;
    if path.fields.len() > 1 {
        return Err(not_implemented(format!(
            "filters on embedded resources ('{key}') are not supported by the dev stack gateway"
        )));
    }
    if path.json_path {
        return Err(not_implemented(format!(
            "JSON paths ('{key}') are not supported by the dev stack gateway"
        )));
    }
    let column = path.fields.into_iter().next().unwrap_or_default();
    match operation {
        Some((negated, operation)) => Ok(Parsed::Filter(Filter {
            column,
            negated,
            operation,
        })),
        None if rpc_read => Ok(Parsed::Arg(column)),
        None => Err(ParseError::expecting_operator(value)
            .into_api_error(&format!("failed to parse filter ({value})"))),
    }
}

/// A parse failure in PostgREST's terms: where (1-based column) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ParseError {
    column: usize,
    details: String,
}

impl ParseError {
    /// A failure at byte `byte` of `text` where PostgREST's parser expected a string (its
    /// message quotes the character as a string: `unexpected "o"`).
    fn at(text: &str, byte: usize, expecting: &str) -> Self {
        Self::quoted(text, byte, expecting, '"')
    }

    /// A failure where PostgREST's parser expected a character (`unexpected '!'`).
    fn at_char(text: &str, byte: usize, expecting: &str) -> Self {
        Self::quoted(text, byte, expecting, '\'')
    }

    fn quoted(text: &str, byte: usize, expecting: &str, quote: char) -> Self {
        let byte = byte.min(text.len());
        let column = text[..byte].chars().count() + 1;
        let unexpected = match text[byte..].chars().next() {
            Some(c) => format!("unexpected {quote}{c}{quote}"),
            None => "unexpected end of input".to_string(),
        };
        ParseError {
            column,
            details: format!("{unexpected} expecting {expecting}"),
        }
    }

    fn expecting_operator(value: &str) -> Self {
        ParseError::at(value, 0, "\"not\" or operator (eq, gt, ...)")
    }

    /// PGRST100 with PostgREST's message: the parser's name for the input and the position.
    fn into_api_error(self, what: &str) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "PGRST100",
            format!("\"{what}\" (line 1, column {})", self.column),
        );
        e.body.details = Some(self.details);
        e
    }
}

/// PGRST127 (400): a feature PostgREST has and the dev stack does not implement.
fn not_implemented(details: String) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::BAD_REQUEST,
        "PGRST127",
        "Feature not implemented",
    );
    e.body.details = Some(details);
    e
}

/// A key: field names separated by `.` (an embedding path), maybe followed by a JSON path.
struct TreePath {
    fields: Vec<String>,
    json_path: bool,
}

impl TreePath {
    fn parse(key: &str) -> Result<TreePath, ParseError> {
        let mut fields = Vec::new();
        let mut at = 0;
        loop {
            let (name, next) = field_name(key, at)?;
            fields.push(name);
            at = next;
            if key[at..].starts_with('.') {
                at += 1;
            } else {
                break;
            }
        }
        // Anything after the names that is not a JSON path PostgREST ignores, as here.
        Ok(TreePath {
            fields,
            json_path: key[at..].starts_with("->"),
        })
    }
}

/// PostgREST's field name at `at`: a `"quoted"` name (backslash escapes) or identifier
/// characters (letters, digits, `_`, `$`, spaces) joined by dashes that do not start `->`;
/// returns it and the byte after it.
fn field_name(text: &str, at: usize) -> Result<(String, usize), ParseError> {
    let rest = &text[at..];
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok((name, at + 1 + i + 1)),
                '\\' => match chars.next() {
                    Some((_, escaped)) => name.push(escaped),
                    None => break,
                },
                _ => name.push(c),
            }
        }
        return Err(ParseError::at(text, text.len(), "\"\\\"\""));
    }
    let is_ident = |c: char| c.is_alphanumeric() || matches!(c, '_' | '$' | ' ');
    let mut end = at;
    loop {
        let word = text[end..]
            .char_indices()
            .find(|(_, c)| !is_ident(*c))
            .map_or(text.len(), |(i, _)| end + i);
        if word == end {
            return Err(ParseError::at(text, end, "field name (* or [a..z0..9_$])"));
        }
        end = word;
        let after = &text[end..];
        if after.starts_with('-') && !after.starts_with("->") {
            end += 1;
        } else {
            break;
        }
    }
    let name = text[at..end].trim().to_string();
    Ok((name, end))
}

/// `[not.]operator.value`: `Ok(None)` when the value does not start with an operator (an
/// argument on GET), an error when it starts like one and then goes wrong where PostgREST's
/// parser cannot back out (`in.`, `is.`, full-text operators).
fn parse_operation(value: &str) -> Result<Option<(bool, Operation)>, ParseError> {
    let (negated, rest, offset) = match value.strip_prefix("not.") {
        Some(rest) => (true, rest, 4),
        None => (false, value, 0),
    };
    if let Some(list) = rest.strip_prefix("in.") {
        return parse_list(value, offset + 3, list)
            .map(|items| Some((negated, Operation::In(items))));
    }
    if let Some(operand) = rest.strip_prefix("is.") {
        let found = IS_VALUES.iter().find(|(name, _)| {
            operand
                .get(..name.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(name))
        });
        return match found {
            // Like PostgREST's parser, what follows the keyword is not looked at.
            Some((_, sql)) => Ok(Some((negated, Operation::Is(sql)))),
            None => Err(ParseError::at(
                value,
                offset + 3,
                "isVal: (null, not_null, true, false, unknown)",
            )),
        };
    }
    if let Some(operand) = rest.strip_prefix("isdistinct.") {
        return Ok(Some((negated, Operation::IsDistinct(operand.to_string()))));
    }
    for (name, sql) in SIMPLE_OPERATORS {
        if let Some(operand) = rest.strip_prefix(name).and_then(|r| r.strip_prefix('.')) {
            return Ok(Some((
                negated,
                Operation::Compare {
                    sql,
                    quantifier: None,
                    value: operand.to_string(),
                },
            )));
        }
    }
    for (name, sql) in QUANT_OPERATORS {
        let Some(after) = rest.strip_prefix(name) else {
            continue;
        };
        let (quantifier, after) = if let Some(a) = after.strip_prefix("(any)") {
            (Some(Quantifier::Any), a)
        } else if let Some(a) = after.strip_prefix("(all)") {
            (Some(Quantifier::All), a)
        } else {
            (None, after)
        };
        let Some(operand) = after.strip_prefix('.') else {
            continue;
        };
        let value = if matches!(name, "like" | "ilike") {
            operand.replace('*', "%")
        } else {
            operand.to_string()
        };
        return Ok(Some((
            negated,
            Operation::Compare {
                sql,
                quantifier,
                value,
            },
        )));
    }
    if negated {
        return Err(ParseError::at(value, 4, "operator (eq, gt, ...)"));
    }
    Ok(None)
}

/// `(a,"b,c", d)`: PostgREST's list value; `offset` is where `list` starts in `value`.
fn parse_list(value: &str, offset: usize, list: &str) -> Result<Vec<String>, ParseError> {
    let body = list.trim_start_matches([' ', '\t']);
    let Some(mut rest) = body.strip_prefix('(') else {
        return Err(ParseError::at(
            value,
            offset + (list.len() - body.len()),
            "\"(\"",
        ));
    };
    let mut items = Vec::new();
    loop {
        // A quoted element counts only when the list goes on or ends right after it.
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut element = String::new();
            let mut chars = quoted.char_indices();
            let mut closed = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = Some(i + 1);
                        break;
                    }
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            element.push(escaped);
                        }
                    }
                    _ => element.push(c),
                }
            }
            if let Some(end) = closed {
                let after = &quoted[end..];
                if after.starts_with(',') || after.starts_with(')') {
                    items.push(element);
                    rest = after;
                    if let Some(next) = rest.strip_prefix(',') {
                        rest = next;
                        continue;
                    }
                    break;
                }
            }
        }
        let end = rest.find([',', ')']).unwrap_or(rest.len());
        items.push(rest[..end].to_string());
        rest = &rest[end..];
        match rest.strip_prefix(',') {
            Some(next) => rest = next,
            None => break,
        }
    }
    match rest.trim_start_matches([' ', '\t']).strip_prefix(')') {
        Some(_) => Ok(items),
        None => Err(ParseError::at(
            value,
            value.len() - rest.len(),
            "\",\" or \")\"",
        )),
    }
}

/// `select`: `*`, `column`, `alias:column`, `column::type`, comma-separated.
fn parse_select(select: &str) -> Result<Vec<SelectItem>, ApiError> {
    let fail =
        |e: ParseError| e.into_api_error(&format!("failed to parse select parameter ({select})"));
    let mut items = Vec::new();
    if select.trim().is_empty() {
        return Ok(items);
    }
    for (start, raw) in split_top_level(select) {
        let item = raw.trim_matches([' ', '\t']);
        let at = start + (raw.len() - raw.trim_start_matches([' ', '\t']).len());
        if item.starts_with("...") || (item.contains('(') && !is_aggregate(item)) {
            return Err(not_implemented(format!(
                "embedding resources ('{item}') is not supported by the dev stack gateway"
            )));
        }
        if is_aggregate(item) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "PGRST123",
                "Use of aggregate functions is not allowed",
            ));
        }
        if item == "*" {
            items.push(SelectItem {
                column: None,
                alias: None,
                cast: None,
            });
            continue;
        }
        let (first, after_first) = field_name(select, at).map_err(fail)?;
        let aliased =
            select[after_first..].starts_with(':') && !select[after_first..].starts_with("::");
        let (alias, column, mut end) = if aliased {
            let (column, end) = field_name(select, after_first + 1).map_err(fail)?;
            (Some(first), column, end)
        } else {
            (None, first, after_first)
        };
        if select[end..].starts_with("->") {
            return Err(not_implemented(format!(
                "JSON paths ('{item}') are not supported by the dev stack gateway"
            )));
        }
        let mut cast = None;
        if let Some(rest) = select[end..].strip_prefix("::") {
            let type_end = rest
                .char_indices()
                .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '$' | ' ')))
                .map_or(rest.len(), |(i, _)| i);
            let name = rest[..type_end].trim();
            if name.is_empty() {
                return Err(fail(ParseError::at(select, end + 2, "letter or digit")));
            }
            cast = Some(name.to_string());
            end += 2 + type_end;
        }
        let item_end = start + raw.len();
        if select[end..item_end].trim_matches([' ', '\t']).is_empty() {
            items.push(SelectItem {
                column: Some(column),
                alias,
                cast,
            });
        } else {
            return Err(fail(ParseError::at_char(
                select,
                end,
                "letter, digit, \"-\", \"->>\", \"->\", \"::\", \".\", \")\", \",\" or end of input",
            )));
        }
    }
    Ok(items)
}

/// `count()`, `alias:count()`, `col.sum()`, `col::int.avg()::text`...: an aggregate.
fn is_aggregate(item: &str) -> bool {
    let without_alias = match item.split_once(':') {
        Some((_, rest)) if !rest.starts_with(':') => rest,
        _ => item,
    };
    without_alias.trim_start().starts_with("count()")
        || AGGREGATES
            .iter()
            .any(|agg| without_alias.contains(&format!(".{agg}()")))
}

/// `(byte offset, text)` of each comma-separated part outside quotes and parentheses.
fn split_top_level(text: &str) -> Vec<(usize, &str)> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0usize, false, 0);
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            ',' if !quoted && depth == 0 => {
                parts.push((start, &text[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push((start, &text[start..]));
    parts
}

/// `order`: `column[.asc|.desc][.nullsfirst|.nullslast]`, comma-separated.
fn parse_order(order: &str) -> Result<Vec<OrderTerm>, ApiError> {
    let fail = |e: ParseError| e.into_api_error(&format!("failed to parse order ({order})"));
    let mut terms = Vec::new();
    for (start, raw) in split_top_level(order) {
        let at = start + (raw.len() - raw.trim_start_matches([' ', '\t']).len());
        let item_end = start + raw.trim_end_matches([' ', '\t']).len();
        let (column, mut end) = field_name(order, at).map_err(fail)?;
        if order[end..].starts_with("->") {
            return Err(not_implemented(format!(
                "ordering by JSON paths ('{}') is not supported by the dev stack gateway",
                raw.trim()
            )));
        }
        if order[end..].starts_with('(') {
            return Err(not_implemented(format!(
                "ordering by an embedded resource ('{}') is not supported by the dev stack gateway",
                raw.trim()
            )));
        }
        let mut direction = None;
        let mut nulls = None;
        for (word, sql) in [(".asc", "ASC"), (".desc", "DESC")] {
            if order[end..item_end].starts_with(word) {
                direction = Some(sql);
                end += word.len();
                break;
            }
        }
        for (word, sql) in [(".nullsfirst", "NULLS FIRST"), (".nullslast", "NULLS LAST")] {
            if order[end..item_end].starts_with(word) {
                nulls = Some(sql);
                end += word.len();
                break;
            }
        }
        if end != item_end {
            let expecting = if direction.is_none() && nulls.is_none() {
                "\"asc\", \"desc\", \"nullsfirst\" or \"nullslast\""
            } else {
                "\",\" or end of input"
            };
            return Err(fail(ParseError::at(
                order,
                (end + 1).min(item_end),
                expecting,
            )));
        }
        terms.push(OrderTerm {
            column,
            direction,
            nulls,
        });
    }
    Ok(terms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn code(result: Result<QueryParams, ApiError>) -> String {
        result.err().map(|e| e.body.code).unwrap_or_default()
    }

    #[test]
    fn operators_become_filters_and_plain_values_become_get_arguments() {
        let p = parse(
            true,
            &q(&[
                ("a", "2"),
                ("n", "gte.3"),
                ("t", "not.like.ab*"),
                ("k", "in.(1,\"2,3\")"),
            ]),
        )
        .unwrap();
        assert_eq!(p.args, vec![("a".to_string(), "2".to_string())]);
        assert_eq!(p.filters.len(), 3);
        assert_eq!(
            p.filters[1],
            Filter {
                column: "t".into(),
                negated: true,
                operation: Operation::Compare {
                    sql: "like",
                    quantifier: None,
                    value: "ab%".into()
                },
            }
        );
        assert_eq!(
            p.filters[2].operation,
            Operation::In(vec!["1".into(), "2,3".into()])
        );
        // On POST the arguments are in the body: a value without an operator is an error.
        let e = parse(false, &q(&[("a", "2")])).unwrap_err();
        assert_eq!(e.body.code, "PGRST100");
        assert_eq!(
            e.body.message,
            "\"failed to parse filter (2)\" (line 1, column 1)"
        );
        assert_eq!(
            e.body.details.as_deref(),
            Some("unexpected \"2\" expecting \"not\" or operator (eq, gt, ...)")
        );
    }

    #[test]
    fn operator_spellings_follow_postgrest() {
        let op = |v: &str| parse_operation(v).unwrap().unwrap().1;
        assert_eq!(
            op("gt.1"),
            Operation::Compare {
                sql: ">",
                quantifier: None,
                value: "1".into()
            }
        );
        assert_eq!(
            op("gte.1"),
            Operation::Compare {
                sql: ">=",
                quantifier: None,
                value: "1".into()
            }
        );
        assert_eq!(
            op("eq(any).{1,2}"),
            Operation::Compare {
                sql: "=",
                quantifier: Some(Quantifier::Any),
                value: "{1,2}".into()
            }
        );
        assert_eq!(op("is.NULL"), Operation::Is("NULL"));
        assert_eq!(op("is.not_null"), Operation::Is("NOT NULL"));
        assert_eq!(op("isdistinct.x"), Operation::IsDistinct("x".into()));
        assert_eq!(
            op("neq."),
            Operation::Compare {
                sql: "<>",
                quantifier: None,
                value: "".into()
            }
        );
        assert_eq!(op("in.()"), Operation::In(vec!["".into()]));
        assert!(parse_operation("eqx").unwrap().is_none());
        assert!(parse_operation("is.maybe").is_err());
        assert!(parse_operation("in.1,2").is_err());
    }

    #[test]
    fn select_and_order_take_plain_columns_aliases_and_casts() {
        let p = parse(
            false,
            &q(&[
                ("select", "id, label:name,n::text"),
                ("order", "n.desc.nullslast,id"),
            ]),
        )
        .unwrap();
        assert_eq!(p.select.len(), 3);
        assert_eq!(p.select[1].alias.as_deref(), Some("label"));
        assert_eq!(p.select[2].cast.as_deref(), Some("text"));
        assert_eq!(
            p.order[0],
            OrderTerm {
                column: "n".into(),
                direction: Some("DESC"),
                nulls: Some("NULLS LAST")
            }
        );
        assert_eq!(p.order[1].direction, None);
        assert_eq!(
            code(parse(false, &q(&[("order", "n.sideways")]))),
            "PGRST100"
        );
        assert_eq!(code(parse(false, &q(&[("select", "id!x")]))), "PGRST100");
    }

    #[test]
    fn unsupported_features_are_refused_not_ignored() {
        for pairs in [
            vec![("or", "(a.eq.1,b.eq.2)")],
            vec![("not.and", "(a.eq.1)")],
            vec![("select", "*,clients(*)")],
            vec![("select", "data->x")],
            vec![("data->x", "eq.1")],
            vec![("clients.id", "eq.1")],
            vec![("t", "fts.cat")],
            vec![("columns", "a")],
            vec![("on_conflict", "a")],
            vec![("clients.order", "id")],
            vec![("order", "data->x")],
        ] {
            let found = code(parse(false, &q(&pairs)));
            assert!(
                found == "PGRST127" || found == "PGRST100",
                "{pairs:?}: {found}"
            );
            assert_ne!(found, "", "{pairs:?}");
        }
        assert_eq!(code(parse(false, &q(&[("select", "n.sum()")]))), "PGRST123");
        assert_eq!(code(parse(false, &q(&[("select", "count()")]))), "PGRST123");
    }

    #[test]
    fn limits_that_are_not_integers_are_ignored_as_postgrest_ignores_them() {
        let p = parse(false, &q(&[("limit", "ten"), ("offset", "2")])).unwrap();
        assert_eq!((p.limit, p.offset), (None, Some(2)));
    }
}
