//! What real clients (supabase-js 2, supabase-py 2) send beside an RPC call — filters,
//! `select`, `order`, `limit`/`offset`, `Range`, `Prefer: count=exact`, `.single()`,
//! `.csv()`, profiles — answered over real HTTP as PostgREST answers it, or refused with
//! PostgREST's error; never a 200 with the unfiltered array.

mod common;

use common::{report_upload, stack, unique_email};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use upload_monitor::devstack::{DevStack, NewUser};

/// The test functions, created once per test binary (tests share one stack).
///
/// `pp_items(who)` is a set of five fixed rows standing for a table a function returns:
/// ids 1-5, a label with a comma and quotes (4), a null score (3), null notes (1, 4), tags.
/// `pp_numbers()` is a set of scalars; `pp_log_and_list()` writes a row, then returns two.
async fn functions(stack: &DevStack) {
    // Once, and never twice at a time: concurrent `create or replace` of one function fail.
    static CREATED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    CREATED.get_or_init(|| create_functions(stack)).await;
}

async fn create_functions(stack: &DevStack) {
    let sql = r#"
        create or replace function public.pp_items(who text default 'ada')
        returns table (id int, label text, score numeric, tags text[], note text, owner text)
        language sql stable as $$
          select v.*, who from (values
            (1, 'alpha', 1.5, array['a', 'x'], null),
            (2, 'beta', 2.5, array['b'], 'n2'),
            (3, 'gamma', null, array['a', 'b'], 'n3'),
            (4, 'Delta, "quoted"', 4.0, array[]::text[], null),
            (5, 'epsilon', 5.5, array['x'], 'n5')
          ) as v(id, label, score, tags, note)
        $$;
        grant execute on function public.pp_items(text) to anon, authenticated, service_role;
        create or replace function public.pp_numbers() returns setof int language sql stable as $$
          select generate_series(1, 5)
        $$;
        create or replace function public.pp_nothing() returns void language sql as $$ select $$;
        create table if not exists public.pp_log (n int);
        grant select, insert on public.pp_log to service_role;
        create or replace function public.pp_log_and_list() returns setof int language sql as $$
          insert into public.pp_log values (1);
          select generate_series(1, 2);
        $$;
    "#;
    stack
        .connect()
        .await
        .unwrap()
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
}

/// An answer: status, headers and body text.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    /// The `id`s of a JSON array of rows.
    fn ids(&self) -> Vec<i64> {
        let body = self.json();
        body.as_array()
            .unwrap_or_else(|| panic!("not an array: {body}"))
            .iter()
            .map(|row| row["id"].as_i64().unwrap())
            .collect()
    }
}

/// A call as supabase-js makes it: POST (or GET) with the service key, the query string and
/// the extra headers given.
async fn call(
    method: reqwest::Method,
    function: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: Value,
) -> Answer {
    let stack = stack();
    functions(stack).await;
    let mut request = reqwest::Client::new()
        .request(
            method.clone(),
            format!("{}/rest/v1/rpc/{function}", stack.api_url()),
        )
        .header("apikey", stack.anon_key())
        .bearer_auth(stack.service_role_key())
        .query(query);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if method == reqwest::Method::POST {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the gateway answers");
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

async fn post(function: &str, query: &[(&str, &str)], headers: &[(&str, &str)]) -> Answer {
    call(reqwest::Method::POST, function, query, headers, json!({})).await
}

async fn get(function: &str, query: &[(&str, &str)], headers: &[(&str, &str)]) -> Answer {
    call(reqwest::Method::GET, function, query, headers, Value::Null).await
}

#[tokio::test]
async fn filters_on_a_set_returning_rpc_are_applied_not_ignored() {
    let cases: [(&str, &str, &[i64]); 16] = [
        ("id", "eq.2", &[2]),
        ("id", "neq.2", &[1, 3, 4, 5]),
        ("score", "gt.2.5", &[4, 5]),
        ("score", "gte.2.5", &[2, 4, 5]),
        ("id", "lt.3", &[1, 2]),
        ("id", "lte.3", &[1, 2, 3]),
        ("label", "like.*lt*", &[4]),
        ("label", "ilike.*LT*", &[4]),
        ("score", "is.null", &[3]),
        ("note", "not.is.null", &[2, 3, 5]),
        ("label", "in.(alpha,\"Delta, \\\"quoted\\\"\")", &[1, 4]),
        ("id", "not.in.(1,2,3)", &[4, 5]),
        ("id", "not.eq.1", &[2, 3, 4, 5]),
        ("tags", "cs.{a}", &[1, 3]),
        ("id", "eq(any).{2,5}", &[2, 5]),
        ("note", "isdistinct.n2", &[1, 3, 4, 5]),
    ];
    for (column, filter, ids) in cases {
        let answer = post("pp_items", &[(column, filter)], &[]).await;
        assert_eq!(answer.status, 200, "{column}={filter}: {}", answer.text);
        assert_eq!(answer.ids(), ids, "{column}={filter}");
    }
    // Several filters all apply.
    let both = post("pp_items", &[("id", "gt.1"), ("score", "lt.5")], &[]).await;
    assert_eq!(both.ids(), [2, 4]);
    // The operand is a literal of the column's type, read by PostgreSQL: a bad one is its
    // error, with PostgREST's status.
    let bad = post("pp_items", &[("id", "eq.one")], &[]).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["code"], "22P02");
    // An unknown column is PostgreSQL's error too, named as PostgREST names it.
    let unknown = post("pp_items", &[("nope", "eq.1")], &[]).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.json()["code"], "42703");
    assert_eq!(
        unknown.json()["message"],
        "column pp_items.nope does not exist"
    );
    // Scalars are filtered as PostgREST names them.
    let numbers = post("pp_numbers", &[("pgrst_scalar", "gte.4")], &[]).await;
    assert_eq!(numbers.json(), json!([4, 5]));
}

#[tokio::test]
async fn select_returns_only_the_named_columns_with_aliases_and_casts() {
    let answer = post(
        "pp_items",
        &[("select", "id,name:label,score::text"), ("id", "lte.2")],
        &[],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.json(),
        json!([{"id": 1, "name": "alpha", "score": "1.5"},
               {"id": 2, "name": "beta", "score": "2.5"}])
    );
}

#[tokio::test]
async fn order_sorts_by_direction_and_nulls_placement() {
    let desc = post("pp_items", &[("order", "score.desc.nullslast")], &[]).await;
    assert_eq!(desc.ids(), [5, 4, 2, 1, 3]);
    let asc = post("pp_items", &[("order", "score.asc.nullsfirst,id")], &[]).await;
    assert_eq!(asc.ids(), [3, 1, 2, 4, 5]);
    // PostgreSQL's default: nulls come last ascending.
    let plain = post("pp_items", &[("order", "score")], &[]).await;
    assert_eq!(plain.ids(), [1, 2, 4, 5, 3]);
}

#[tokio::test]
async fn limit_offset_and_the_range_header_page_the_result() {
    let page = post(
        "pp_items",
        &[("limit", "2"), ("offset", "1"), ("order", "id")],
        &[],
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.ids(), [2, 3]);
    assert_eq!(page.header("content-range"), "1-2/*");
    // supabase-js's .range(1, 3) is offset=1&limit=3.
    let range = post("pp_items", &[("offset", "1"), ("limit", "3")], &[]).await;
    assert_eq!(range.ids(), [2, 3, 4]);
    // The Range header counts on GET, and is ignored on POST, as in PostgREST.
    let header = get(
        "pp_items",
        &[],
        &[("range-unit", "items"), ("range", "1-1")],
    )
    .await;
    assert_eq!(header.ids(), [2]);
    assert_eq!(header.header("content-range"), "1-1/*");
    let ignored = post("pp_items", &[], &[("range", "1-1")]).await;
    assert_eq!(ignored.ids(), [1, 2, 3, 4, 5]);
    assert_eq!(ignored.header("content-range"), "0-4/*");
    // limit=0 is no rows; a negative limit is PGRST103.
    let none = post("pp_items", &[("limit", "0")], &[]).await;
    assert_eq!(none.json(), json!([]));
    assert_eq!(none.header("content-range"), "*/*");
    let negative = post("pp_items", &[("limit", "-1")], &[]).await;
    assert_eq!(negative.status, 416);
    assert_eq!(
        negative.json(),
        json!({"code": "PGRST103", "message": "Requested range not satisfiable",
               "details": "Limit should be greater than or equal to zero.", "hint": null})
    );
}

#[tokio::test]
async fn count_exact_reports_the_total_with_206_for_a_partial_page() {
    let counted = post("pp_items", &[("limit", "2")], &[("prefer", "count=exact")]).await;
    assert_eq!(counted.status, 206, "{}", counted.text);
    assert_eq!(counted.header("content-range"), "0-1/5");
    assert_eq!(counted.header("preference-applied"), "count=exact");
    // The count is of the filtered rows.
    let filtered = post(
        "pp_items",
        &[("id", "gt.2"), ("limit", "2"), ("offset", "1")],
        &[("prefer", "count=exact")],
    )
    .await;
    assert_eq!(filtered.ids(), [4, 5]);
    assert_eq!(filtered.header("content-range"), "1-2/3");
    let whole = post("pp_items", &[], &[("prefer", "count=exact")]).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("content-range"), "0-4/5");
    // Past the end of a counted result: 416 with PostgREST's body.
    let past = post(
        "pp_items",
        &[("offset", "10")],
        &[("prefer", "count=exact")],
    )
    .await;
    assert_eq!(past.status, 416);
    assert_eq!(past.header("content-range"), "*/5");
    assert_eq!(
        past.json()["details"],
        "An offset of 10 was requested, but there are only 5 rows."
    );
    // A function returning one value counts one row.
    let scalar = post("monitor_api_version", &[], &[("prefer", "count=exact")]).await;
    assert_eq!(scalar.status, 200);
    assert_eq!(scalar.header("content-range"), "0-0/1");
    // Void answers 204 however it is asked, with the one row it counts.
    let void = post("pp_nothing", &[], &[("prefer", "count=exact")]).await;
    assert_eq!(void.status, 204, "{}", void.text);
    assert_eq!(void.header("content-range"), "0-0/1");
    // A plain call reports its page without a total, as PostgREST always does.
    let plain = post("pp_numbers", &[], &[]).await;
    assert_eq!(plain.header("content-range"), "0-4/*");
}

#[tokio::test]
async fn a_single_object_is_answered_or_refused_with_pgrst116_and_rolled_back() {
    let object = "application/vnd.pgrst.object+json";
    let one = post(
        "pp_items",
        &[("id", "eq.2"), ("select", "id,label")],
        &[("accept", object)],
    )
    .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.json(), json!({"id": 2, "label": "beta"}));
    assert_eq!(
        one.header("content-type"),
        "application/vnd.pgrst.object+json; charset=utf-8"
    );
    for (filter, rows) in [("gt.0", 5), ("gt.9", 0)] {
        let refused = post("pp_items", &[("id", filter)], &[("accept", object)]).await;
        assert_eq!(refused.status, 406, "{}", refused.text);
        assert_eq!(
            refused.json(),
            json!({"code": "PGRST116", "message": "Cannot coerce the result to a single JSON object",
                   "details": format!("The result contains {rows} rows"), "hint": null})
        );
    }
    // nulls=stripped drops null-valued keys.
    let stripped = post(
        "pp_items",
        &[("id", "eq.1"), ("select", "id,note")],
        &[("accept", "application/vnd.pgrst.object+json;nulls=stripped")],
    )
    .await;
    assert_eq!(stripped.json(), json!({"id": 1}));
    // What the refused call wrote is rolled back.
    let db = stack().connect().await.unwrap();
    let count = || async {
        db.query_one("select count(*) from public.pp_log", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let before = count().await;
    let refused = post("pp_log_and_list", &[], &[("accept", object)]).await;
    assert_eq!(refused.status, 406);
    assert_eq!(count().await, before);
    let kept = post(
        "pp_log_and_list",
        &[("pgrst_scalar", "eq.1")],
        &[("accept", object)],
    )
    .await;
    assert_eq!(kept.status, 200, "{}", kept.text);
    assert_eq!(kept.json(), json!(1));
    assert_eq!(count().await, before + 1);
}

#[tokio::test]
async fn csv_is_answered_in_postgrests_format() {
    let answer = post(
        "pp_items",
        &[("select", "id,label,note"), ("id", "in.(1,4)")],
        &[("accept", "text/csv")],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.header("content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        answer.text,
        "id,label,note\n1,alpha,\n4,\"Delta, \"\"quoted\"\"\","
    );
    let numbers = get(
        "pp_numbers",
        &[("pgrst_scalar", "lte.2")],
        &[("accept", "text/csv")],
    )
    .await;
    assert_eq!(numbers.text, "pgrst_scalar\n1\n2");
}

#[tokio::test]
async fn a_schema_that_is_not_exposed_is_refused_with_pgrst106() {
    let expected = json!({"code": "PGRST106", "message": "Invalid schema: private",
                          "details": null,
                          "hint": "Only the following schemas are exposed: public, graphql_public"});
    let post_private = post("pp_items", &[], &[("content-profile", "private")]).await;
    assert_eq!(post_private.status, 406);
    assert_eq!(post_private.json(), expected);
    let get_private = get("pp_items", &[], &[("accept-profile", "private")]).await;
    assert_eq!(get_private.status, 406);
    assert_eq!(get_private.json(), expected);
    // An exposed schema is searched, and named in the answer.
    let public = post(
        "pp_items",
        &[("id", "eq.1")],
        &[("content-profile", "public")],
    )
    .await;
    assert_eq!(public.status, 200);
    assert_eq!(public.header("content-profile"), "public");
    let graphql = post("pp_items", &[], &[("content-profile", "graphql_public")]).await;
    assert_eq!(graphql.status, 404);
    assert_eq!(graphql.json()["code"], "PGRST202");
    assert_eq!(
        graphql.json()["message"],
        "Could not find the function graphql_public.pp_items without parameters in the schema cache"
    );
}

#[tokio::test]
async fn what_postgrest_supports_and_the_gateway_does_not_is_refused_never_ignored() {
    let not_implemented: [&[(&str, &str)]; 8] = [
        &[("or", "(id.eq.1,id.eq.2)")],
        &[("and", "(id.gt.1,id.lt.3)")],
        &[("select", "*,pp_log(*)")],
        &[("select", "tags->0")],
        &[("tags->0", "eq.a")],
        &[("label", "fts.alpha")],
        &[("pp_log.n", "eq.1")],
        &[("columns", "who")],
    ];
    for query in not_implemented {
        let answer = post("pp_items", query, &[]).await;
        assert_eq!(answer.status, 400, "{query:?}: {}", answer.text);
        assert_eq!(answer.json()["code"], "PGRST127", "{query:?}");
        assert_eq!(answer.json()["message"], "Feature not implemented");
    }
    let aggregate = post("pp_items", &[("select", "score.sum()")], &[]).await;
    assert_eq!(aggregate.status, 400);
    assert_eq!(aggregate.json()["code"], "PGRST123");
    // What PostgREST cannot parse is PGRST100 with its message.
    let no_operator = post("pp_items", &[("id", "2")], &[]).await;
    assert_eq!(no_operator.status, 400);
    assert_eq!(no_operator.json()["code"], "PGRST100");
    assert_eq!(
        no_operator.json()["message"],
        "\"failed to parse filter (2)\" (line 1, column 1)"
    );
    let bad_order = post("pp_items", &[("order", "id.sideways")], &[]).await;
    assert_eq!(bad_order.json()["code"], "PGRST100");
    // A media type the gateway does not produce: PGRST107.
    let html = post("pp_items", &[], &[("accept", "text/html")]).await;
    assert_eq!(html.status, 406);
    assert_eq!(
        html.json(),
        json!({"code": "PGRST107", "message": "None of these media types are available: text/html",
               "details": null, "hint": null})
    );
    // Preferences: timezone is not applied here, so it is refused; strict handling refuses
    // what PostgREST does not know.
    let timezone = post("pp_items", &[], &[("prefer", "timezone=Europe/Paris")]).await;
    assert_eq!(timezone.json()["code"], "PGRST127");
    let strict = post(
        "pp_items",
        &[],
        &[("prefer", "handling=strict, tx=rollback")],
    )
    .await;
    assert_eq!(strict.status, 400);
    assert_eq!(
        strict.json(),
        json!({"code": "PGRST122", "message": "Invalid preferences given with handling=strict",
               "details": "Invalid preferences: tx=rollback", "hint": null})
    );
    let bounded = post(
        "pp_items",
        &[],
        &[("prefer", "handling=strict, max-affected=2")],
    )
    .await;
    assert_eq!(bounded.status, 400);
    assert_eq!(bounded.json()["code"], "PGRST124");
}

#[tokio::test]
async fn get_calls_take_arguments_and_filters_from_one_query_string() {
    let answer = get(
        "pp_items",
        &[("who", "bob"), ("id", "gt.3"), ("select", "id,owner")],
        &[],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.json(),
        json!([{"id": 4, "owner": "bob"}, {"id": 5, "owner": "bob"}])
    );
    // A value with an operator is a filter even under an argument's name, as in PostgREST:
    // `who` is no column of the result.
    let filter = get("pp_items", &[("who", "eq.bob")], &[]).await;
    assert_eq!(filter.status, 400, "{}", filter.text);
    assert_eq!(filter.json()["code"], "42703");
    // HEAD answers the headers alone.
    let stack = stack();
    let head = reqwest::Client::new()
        .head(format!("{}/rest/v1/rpc/pp_items", stack.api_url()))
        .header("apikey", stack.anon_key())
        .header("prefer", "count=exact")
        .query(&[("id", "lt.3")])
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-range"], "0-1/2");
    assert!(head.text().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_project_rpc_is_filtered_counted_and_shaped_like_any_other() {
    let stack = stack();
    let user = stack
        .create_user(&NewUser::new(unique_email("retries")))
        .await
        .unwrap();
    let first = report_upload(&user, "a.mov", "A", Some(0)).await;
    let second = report_upload(&user, "b.mov", "B", Some(0)).await;
    for upload in [first, second] {
        let asked = call(
            reqwest::Method::POST,
            "request_upload_retry",
            &[],
            &[],
            json!({ "upload_id": upload }),
        )
        .await;
        assert_eq!(asked.status, 200, "{}", asked.text);
    }
    let mine = |query: Vec<(&'static str, String)>, headers: Vec<(&'static str, &'static str)>| {
        let token = user.access_token.clone();
        async move {
            let mut request = reqwest::Client::new()
                .post(format!(
                    "{}/rest/v1/rpc/pending_retry_requests",
                    stack.api_url()
                ))
                .header("apikey", stack.anon_key())
                .bearer_auth(token)
                .query(&query)
                .json(&json!({}));
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let headers = response.headers().clone();
            (status, headers, response.json::<Value>().await.unwrap())
        }
    };
    let (status, headers, all) = mine(vec![], vec![("prefer", "count=exact")]).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(headers["content-range"], "0-1/2");
    let local_id = format!("import_{first}");
    let (status, _, one) = mine(
        vec![
            ("local_id", format!("eq.{local_id}")),
            ("select", "upload_id,local_id".into()),
        ],
        vec![("accept", "application/vnd.pgrst.object+json")],
    )
    .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one, json!({"upload_id": first, "local_id": local_id}));
    let (status, _, refused) = mine(
        vec![],
        vec![("accept", "application/vnd.pgrst.object+json")],
    )
    .await;
    assert_eq!(status, 406);
    assert_eq!(refused["details"], "The result contains 2 rows");
}
